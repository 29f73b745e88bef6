"""Inferring a remote host's clock offset from causally impossible stamps."""

from __future__ import annotations

import doctest

import pytest

import dagron.clock_alignment
from dagron._clock import ClockOffset
from dagron.clock_alignment import align_attempts, infer_clock_offsets, shift_attempt
from dagron.node_result import Attempt, NodeStatus, TraceEvent


def at(node: str, start: float, end: float, worker: str, n: int = 1) -> Attempt:
    return Attempt(node, n, NodeStatus.COMPLETED, start, end, end - start, worker)


# "a" was sent at 100.1 and heard back at 101.2 on the coordinator's clock.
EVENTS = [TraceEvent(0.1, "a", "start"), TraceEvent(1.2, "a", "complete")]


def test_infer_clock_offsets_takes_the_offset_nearest_zero() -> None:
    offsets = infer_clock_offsets([at("a", 105.3, 106.1, "far/w1")], EVENTS, 100.0, "here")
    assert list(offsets) == ["far"]
    found = offsets["far"]
    assert not found.measured
    assert found.offset == pytest.approx(106.1 - 101.2)
    assert found.error == pytest.approx((105.3 - 100.1) - (106.1 - 101.2))


def test_infer_clock_offsets_ignores_local_loopback_and_consistent_hosts() -> None:
    ahead = [at("a", 105.3, 106.1, "here/w1"), at("a", 105.3, 106.1, "localhost/w1")]
    assert infer_clock_offsets(ahead, EVENTS, 100.0, "here") == {}
    assert infer_clock_offsets([at("a", 100.2, 101.1, "far/w1")], EVENTS, 100.0, "here") == {}


def test_infer_clock_offsets_splits_the_difference_when_no_offset_fits() -> None:
    events = [*EVENTS, TraceEvent(2.0, "b", "start"), TraceEvent(2.5, "b", "complete")]
    # "a" says far runs >= 4.9 s ahead; "b" says it runs <= 1.0 s behind.
    stamps = [at("a", 105.3, 106.1, "far/w1"), at("b", 101.0, 101.2, "far/w1")]
    found = infer_clock_offsets(stamps, events, 100.0, "here")["far"]
    assert found.offset == pytest.approx((4.9 - 1.0) / 2)
    assert found.error == pytest.approx((4.9 + 1.0) / 2)


def test_align_attempts_leaves_measured_workers_alone() -> None:
    far = at("a", 105.3, 106.1, "far/w1")
    attempts, inferred = align_attempts([far], EVENTS, 100.0, "here", {})
    assert set(inferred) == {"far"} and attempts[0].finished_at == pytest.approx(101.2)
    measured = {"far/w1": ClockOffset(0.0, 0.001)}
    kept, none = align_attempts([far], EVENTS, 100.0, "here", measured)
    assert kept == [far] and none == {}


def test_shift_attempt_uses_the_host_of_the_worker() -> None:
    shifted = shift_attempt(at("a", 10.0, 11.0, "tcp://far:8786/x"), {"far": ClockOffset(2.0, 0)})
    assert (shifted.started_at, shifted.finished_at) == (8.0, 9.0)
    other = at("a", 10.0, 11.0, "near/w1")
    assert shift_attempt(other, {"far": ClockOffset(2.0, 0)}) is other


def test_clock_alignment_module_doctests() -> None:
    assert doctest.testmod(dagron.clock_alignment).failed == 0
