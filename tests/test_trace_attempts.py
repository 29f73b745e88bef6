"""attempts_from_results: a run's node results as a trace's attempts."""

from __future__ import annotations

import doctest

import dagron.trace_attempts
from dagron.node_result import NodeResult, NodeStatus, TraceEvent
from dagron.trace_attempts import attempt_of, attempts_from_results


def test_attempts_from_results_lists_earlier_tries_first() -> None:
    last = NodeResult(
        "a", NodeStatus.COMPLETED, started_at=3.0, finished_at=4.0, duration_seconds=1.0,
        attempts=2, worker="h/w1",
    )  # fmt: skip
    first = NodeResult(
        "a", NodeStatus.FAILED, started_at=1.0, finished_at=2.0, duration_seconds=1.0,
        attempts=1, worker="h/w1", error=ValueError("no"),
    )  # fmt: skip
    tries = attempts_from_results({"a": last}, [first], [], None)
    assert [(a.attempt, a.status, a.error) for a in tries] == [
        (1, NodeStatus.FAILED, "ValueError: no"),
        (2, NodeStatus.COMPLETED, None),
    ]


def test_attempts_from_results_spans_an_unstamped_cancel_from_dispatch() -> None:
    cancelled = NodeResult("a", NodeStatus.CANCELLED, attempts=1)
    events = [TraceEvent(0.5, "a", "start"), TraceEvent(2.0, "a", "cancel")]
    (a,) = attempts_from_results({"a": cancelled}, [], events, 10.0)
    assert (a.started_at, a.finished_at, a.duration) == (10.5, 12.0, 1.5)
    assert attempts_from_results({"a": cancelled}, [], events, None) == []


def test_attempt_of_a_result_without_times_is_none() -> None:
    assert attempt_of(NodeResult("a", NodeStatus.SKIPPED), 1) is None
    abandoned = NodeResult(
        "a", NodeStatus.CANCELLED, started_at=1.0, finished_at=4.0, duration_seconds=0.0
    )
    attempt = attempt_of(abandoned, 1)
    assert attempt is not None and attempt.duration == 3.0


def test_trace_attempts_module_doctests() -> None:
    assert doctest.testmod(dagron.trace_attempts).failed == 0
