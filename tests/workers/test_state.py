"""The coordinator's state machine, driven by plain calls: no sockets, no processes."""

from __future__ import annotations

import pytest

from dagron.workers.state import (
    CancelOnWorker,
    CoordinatorState,
    Dispatch,
    KillWorker,
    TaskLost,
)

A, B = b"A", b"B"


def dispatched(instructions: list) -> dict[bytes, list[int]]:
    out: dict[bytes, list[int]] = {}
    for ins in instructions:
        if isinstance(ins, Dispatch):
            out.setdefault(ins.worker, []).extend(ins.keys)
    return out


def test_state_holds_tasks_until_a_worker_joins() -> None:
    s = CoordinatorState(prefetch=2)
    assert s.submit(1, fn_id=0) == []
    assert dispatched(s.worker_joined(A)) == {A: [1]}


def test_state_prefetch_bounds_what_a_worker_holds() -> None:
    s = CoordinatorState(prefetch=2)
    s.worker_joined(A)
    out = s.submit_many([(k, 0) for k in range(5)])
    assert dispatched(out) == {A: [0, 1]}
    s.task_started(A, 0)
    assert s.task_finished(A, 0)
    assert dispatched(s.assign()) == {A: [2]}


def test_state_spreads_a_burst_over_workers_as_batches() -> None:
    s = CoordinatorState(prefetch=3)
    s.worker_joined(A)
    s.worker_joined(B)
    out = s.submit_many([(k, 0) for k in range(6)])
    assert len(out) == 2  # one batch message per worker
    got = dispatched(out)
    assert sorted(got[A] + got[B]) == list(range(6))
    assert len(got[A]) == len(got[B]) == 3


def test_state_sends_each_function_once_per_worker() -> None:
    s = CoordinatorState(prefetch=4)
    s.worker_joined(A)
    (d,) = s.submit_many([(1, 7), (2, 7), (3, 8)])
    assert isinstance(d, Dispatch)
    assert d.with_fn == (True, False, True)
    for k in (1, 2, 3):
        s.task_started(A, k)
        s.task_finished(A, k)
    (d2,) = s.submit(4, 7)
    assert isinstance(d2, Dispatch) and d2.with_fn == (False,)


def test_state_lost_worker_reports_running_and_requeues_queued() -> None:
    s = CoordinatorState(prefetch=2)
    s.worker_joined(A)
    s.submit_many([(1, 0), (2, 0)])
    s.task_started(A, 1)
    out = s.worker_lost(A, "killed by signal 9")
    assert out == [TaskLost(1, A, "killed by signal 9")]
    assert list(s.pending) == [2]
    assert dispatched(s.worker_joined(B)) == {B: [2]}
    assert s.outstanding() == 1


def test_state_late_news_of_a_removed_worker_is_ignored() -> None:
    s = CoordinatorState()
    s.worker_joined(A)
    s.submit(1, 0)
    s.worker_lost(A, "gone")
    assert s.worker_lost(A, "gone again") == []
    assert s.task_started(A, 1) == []
    assert s.task_finished(A, 1) is False
    assert list(s.pending) == [1]


def test_state_duplicate_hello_changes_nothing() -> None:
    s = CoordinatorState()
    s.worker_joined(A)
    s.submit(1, 0)
    assert s.worker_joined(A) == []
    assert list(s.workers[A].queued) == [1]


def test_state_cancel_pending_queued_and_running() -> None:
    s = CoordinatorState(prefetch=2)
    s.submit(9, 0)
    assert s.cancel(9) == []  # never sent
    s.worker_joined(A)
    s.submit_many([(1, 0), (2, 0), (3, 0)])
    s.task_started(A, 1)
    out = s.cancel(2)
    assert out == [CancelOnWorker(A, 2), Dispatch(A, (3,), (False,))]
    out = s.cancel(1)
    assert out[0] == KillWorker(A, "task 1 abandoned")
    assert not any(isinstance(i, TaskLost) for i in out)  # a cancelled task is not "lost"
    assert A not in s.workers
    assert 3 in s.pending


def test_state_cancelled_task_result_is_stale() -> None:
    s = CoordinatorState(prefetch=2)
    s.worker_joined(A)
    s.submit_many([(1, 0), (2, 0)])
    s.cancel(2)
    s.task_started(A, 2)  # the worker had started it before the cancel arrived
    assert s.task_finished(A, 2) is False
    assert s.outstanding() == 1


def test_state_kill_for_memory_reports_reason() -> None:
    s = CoordinatorState()
    s.worker_joined(A)
    s.submit(1, 0)
    s.task_started(A, 1)
    out = s.kill(A, "over memory limit")
    assert out == [KillWorker(A, "over memory limit"), TaskLost(1, A, "over memory limit")]


def test_state_every_task_is_accounted_for_exactly_once() -> None:
    s = CoordinatorState(prefetch=2)
    s.worker_joined(A)
    s.worker_joined(B)
    s.submit_many([(k, k % 3) for k in range(20)])
    ended: list[int] = []
    lost_once = False
    while s.outstanding():
        for w in list(s.workers):
            slot = s.workers[w]
            if slot.queued:
                key = slot.queued[0]
                s.task_started(w, key)
                if not lost_once and w == B:
                    lost_once = True
                    ended += [i.key for i in s.worker_lost(B, "x") if isinstance(i, TaskLost)]
                    break
                assert s.task_finished(w, key)
                ended.append(key)
                s.assign()
    assert sorted(ended) == list(range(20))


def test_state_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CoordinatorState(prefetch=0)
    s = CoordinatorState()
    s.submit(1, 0)
    with pytest.raises(ValueError):
        s.submit(1, 0)


def test_state_queues_deepen_for_short_tasks_and_shrink_for_long_ones() -> None:
    s = CoordinatorState(prefetch=2, max_prefetch=8, queue_seconds=0.002)
    s.worker_joined(A)
    out = s.submit_many([(k, 0) for k in range(30)])
    assert dispatched(out) == {A: [0, 1]}  # nothing known yet: prefetch
    for k in (0, 1):
        s.task_started(A, k)
        assert s.task_finished(A, k, 1e-5)
    assert dispatched(s.assign()) == {A: list(range(2, 10))}  # short tasks: max_prefetch
    # Topped up only once down to half its queue: one message per batch, not per task.
    for k in (2, 3, 4):
        s.task_started(A, k)
        assert s.task_finished(A, k, 1e-5)
        assert s.assign() == []
    s.task_started(A, 5)
    assert s.task_finished(A, 5, 1e-5)
    assert dispatched(s.assign()) == {A: [10, 11, 12, 13]}
    # One slow task and the queues are back to prefetch.
    s.task_started(A, 6)
    assert s.task_finished(A, 6, 1.0)
    assert s.depth == 2
    assert s.assign() == []


def test_state_ignores_nonsense_durations() -> None:
    s = CoordinatorState(prefetch=2, max_prefetch=8)
    s.worker_joined(A)
    s.submit_many([(k, 0) for k in range(4)])
    for k, took in zip((0, 1), (float("nan"), "soon")):
        s.task_started(A, k)
        assert s.task_finished(A, k, took)  # type: ignore[arg-type]
    assert s.depth == 2 and s.mean_duration is None
