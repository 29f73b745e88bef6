"""Retries, driven by plain calls with explicit monotonic times: no sleeps."""

from __future__ import annotations

from dagron._retries import Retries
from dagron.result import NodeResult, NodeStatus


def failure(name: str) -> NodeResult:
    return NodeResult(name, NodeStatus.FAILED, error=ValueError(name))


def test_retries_allows_up_to_the_node_count() -> None:
    r = Retries([2, 0], 0.0)
    assert r.allows(0, 1) and r.allows(0, 2) and not r.allows(0, 3)
    assert not r.allows(1, 1)
    assert not Retries(None, 0.0).allows(0, 1)


def test_retries_delay_is_seconds_or_a_function_of_the_attempt() -> None:
    assert Retries(None, 1.5).delay_before(2) == 1.5
    assert Retries(None, lambda attempt: 2.0**attempt).delay_before(3) == 8.0


def test_retries_release_takes_off_the_due_ones_soonest_first() -> None:
    r = Retries([1, 1, 1], 5.0)
    r.hold(2, 30.0, failure("c"))
    r.hold(0, 10.0, failure("a"))
    r.hold(1, 20.0, failure("b"))
    assert r.next() == 10.0
    assert r.release(5.0) == []
    assert r.release(20.0) == [0, 1]
    assert r.next() == 30.0 and list(r.last_failure) == [2]


def test_retries_abandon_returns_last_failures_in_node_order() -> None:
    r = Retries([1, 1], 5.0)
    a, b = failure("a"), failure("b")
    r.hold(1, 10.0, b)
    r.hold(0, 20.0, a)
    assert r.abandon() == [(0, a), (1, b)]
    assert r.next() is None and not r.waiting and not r.last_failure


def test_retries_clear_drops_waiting() -> None:
    r = Retries([1], 5.0)
    r.hold(0, 10.0, failure("a"))
    r.clear()
    assert r.next() is None and r.release(100.0) == []
