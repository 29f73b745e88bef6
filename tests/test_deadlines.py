"""Deadlines, driven by plain calls with explicit monotonic times: no sleeps."""

from __future__ import annotations

from dagron._deadlines import Deadlines


def test_deadlines_due_returns_live_attempts_past_their_deadline_soonest_first() -> None:
    d = Deadlines([5.0, 1.0, None])
    current = [0, 1, -1]
    d.arm(0, 0, 5.0, now=100.0)
    d.arm(1, 1, 1.0, now=100.0)
    assert d.due(100.5, current) == []
    assert d.due(105.0, current) == [1, 0]
    assert d.due(200.0, current) == []  # taken off once


def test_deadlines_finished_attempt_is_dropped_not_returned() -> None:
    d = Deadlines([1.0])
    current = [0]
    d.arm(0, 0, 1.0, now=10.0)
    assert d.next(current) == 11.0
    current[0] = -1  # it finished in time
    assert d.next(current) is None and d.heap == []
    assert d.due(20.0, current) == []


def test_deadlines_rearm_supersedes_the_earlier_deadline() -> None:
    d = Deadlines([2.0])
    current = [0]
    d.arm(0, 0, 2.0, now=10.0)  # queued on a backend
    d.arm(0, 0, 2.0, now=15.0)  # its started notice: the clock starts over
    assert d.next(current) == 17.0
    assert d.due(16.0, current) == []
    assert d.due(17.0, current) == [0]
    assert d.began(0)[1] == 15.0


def test_deadlines_attempt_of_a_later_retry_is_told_apart_by_key() -> None:
    d = Deadlines([1.0, None])  # n = 2: key 2 is node 0's second attempt
    current = [0, -1]
    d.arm(0, 0, 1.0, now=0.0)
    current[0] = 2  # attempt 1 abandoned, attempt 2 in flight
    d.arm(0, 2, 1.0, now=0.5)
    assert d.due(10.0, current) == [2]


def test_deadlines_clear_keeps_start_times() -> None:
    d = Deadlines([1.0, 1.0])
    d.arm(0, 0, 1.0, now=3.0)
    d.clear()
    assert d.next([0, -1]) is None
    assert d.started_at(0) is not None and d.started_at(1) is None
