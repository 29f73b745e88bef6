"""The coordinator's state machine, driven by event records: no sockets, no processes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from dagron.workers.state import (
    CancelOnWorker,
    CoordinatorState,
    Dispatch,
    ForgetOnWorker,
    FunctionsReleased,
    IgnoreReport,
    Instruction,
    KillWorker,
    TaskCancelled,
    TaskLost,
    TasksAdded,
    TasksFinished,
    TaskStarted,
    TopUp,
    WorkerExited,
    WorkerJoined,
    WorkerLeft,
    WorkerWrittenOff,
)

A, B = b"A", b"B"


def dispatched(instructions: list[Instruction]) -> dict[bytes, list[int]]:
    out: dict[bytes, list[int]] = {}
    for ins in instructions:
        if isinstance(ins, Dispatch):
            out.setdefault(ins.worker, []).extend(ins.keys)
    return out


def added(keys: Iterable[int], fn_id: int = 0) -> TasksAdded:
    return TasksAdded({k: fn_id for k in keys}, {})


def run(s: CoordinatorState, worker: bytes, key: int, took: float | None = None) -> None:
    """``worker`` starts ``key`` and reports it done; both reports must be current."""
    assert s.handle(TaskStarted(worker, key)) == []
    assert s.handle(TasksFinished(worker, [key], [took])) == []


def test_handle_holds_tasks_until_a_worker_joins() -> None:
    s = CoordinatorState(prefetch=2)
    assert s.handle(added([1])) == []
    assert dispatched(s.handle(WorkerJoined(A, ""))) == {A: [1]}


def test_handle_prefetch_bounds_what_a_worker_holds() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""))
    out = s.handle(added(range(5)))
    assert dispatched(out) == {A: [0, 1]}
    run(s, A, 0)
    assert dispatched(s.handle(TopUp())) == {A: [2]}


def test_handle_spreads_a_burst_over_workers_as_batches() -> None:
    s = CoordinatorState(prefetch=3)
    s.handle(WorkerJoined(A, ""), WorkerJoined(B, ""))
    out = s.handle(added(range(6)))
    assert len(out) == 2  # one batch message per worker
    got = dispatched(out)
    assert sorted(got[A] + got[B]) == list(range(6))
    assert len(got[A]) == len(got[B]) == 3


def test_handle_events_passed_together_make_one_batch() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""))
    out = s.handle(added([1, 2]), added([3]))
    assert out == [Dispatch(A, (1, 2, 3), (0,))]


def test_handle_sends_each_function_once_per_worker() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""))
    (d,) = s.handle(TasksAdded({1: 7, 2: 7, 3: 8}, {}))
    assert isinstance(d, Dispatch)
    assert d.fn_ids == (7, 8)
    for k in (1, 2, 3):
        run(s, A, k)
    (d2,) = s.handle(TasksAdded({4: 7}, {}))
    assert isinstance(d2, Dispatch) and d2.fn_ids == ()


def test_handle_sends_what_a_function_needs_first_and_once_per_worker() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""))
    # 7 needs shared objects 1 and 2 loaded first; 8 needs 2 and 3.
    (d,) = s.handle(TasksAdded({10: 7}, {7: (1, 2, 7)}))
    assert isinstance(d, Dispatch) and d.fn_ids == (1, 2, 7)
    run(s, A, 10)
    (d,) = s.handle(TasksAdded({11: 8, 12: 7}, {8: (2, 3, 8)}))
    assert isinstance(d, Dispatch) and d.fn_ids == (3, 8)  # 2 and 7 are there already
    s.handle(WorkerJoined(B, ""))
    for k in (11, 12):
        run(s, A, k)
    out = s.handle(TasksAdded({13: 8, 14: 8, 15: 8, 16: 8, 17: 8, 18: 8}, {}))
    sent = {ins.worker: ins.fn_ids for ins in out if isinstance(ins, Dispatch)}
    assert sent == {A: (), B: (2, 3, 8)}


def test_handle_task_finished_frees_room_without_refilling() -> None:
    s = CoordinatorState(prefetch=1)
    s.handle(WorkerJoined(A, ""), added([1, 2]))
    assert s.handle(TaskStarted(A, 1), TasksFinished(A, [1], [None])) == []
    assert dispatched(s.handle(TopUp())) == {A: [2]}


def test_handle_lost_worker_reports_every_task_handed_to_it() -> None:
    # A worker cut off from us runs its queue on: whatever it held may run, so every task
    # handed to it is lost and counts as an attempt, even one it had not said it began.
    s = CoordinatorState(prefetch=3)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    s.handle(TaskStarted(A, 1))
    out = s.handle(WorkerLeft(A, "no heartbeat"))
    assert out == [
        TaskLost(1, A, "no heartbeat"),
        TaskLost(2, A, "no heartbeat (this task was queued on it)"),
        TaskLost(3, A, "no heartbeat (this task was queued on it)"),
    ]
    assert not s.pending and s.outstanding() == 0


def test_handle_exited_worker_loses_what_it_began_and_requeues_the_rest() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3, 4]))
    # No STARTED notice came (it was killed in the middle of a task, or its reports died
    # with it): its status page says it began 2, so 1 ran too; 3 and 4 never began.
    out = s.handle(WorkerExited(A, "killed", 2))
    assert out == [
        TaskLost(2, A, "killed"),
        TaskLost(1, A, "killed (it ran there; its report was lost)"),
    ]
    assert list(s.pending) == [3, 4]
    assert dispatched(s.handle(WorkerJoined(B, ""))) == {B: [3, 4]}


def test_handle_exited_worker_that_began_nothing_loses_its_running_task_only() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""), added([1, 2]))
    s.handle(TaskStarted(A, 1))
    assert s.handle(WorkerExited(A, "killed", 1)) == [TaskLost(1, A, "killed")]
    assert list(s.pending) == [2]
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(B, ""), added([5]))
    assert s.handle(WorkerExited(B, "gone", None)) == []  # it had begun nothing
    assert list(s.pending) == [5]


def test_handle_task_lost_twice_before_it_began_is_reported_lost() -> None:
    # Receiving a task (its huge arguments, its function) may be what kills the worker,
    # before it begins anything: requeued once, the second time it is lost.
    s = CoordinatorState(prefetch=1)
    s.handle(WorkerJoined(A, ""), added([1]))
    assert s.handle(WorkerExited(A, "killed", None)) == []
    assert dispatched(s.handle(WorkerJoined(B, ""))) == {B: [1]}
    out = s.handle(WorkerExited(B, "killed again", None))
    note = " (this task was queued on it, and on a worker lost before)"
    assert out == [TaskLost(1, B, "killed again" + note)]
    assert s.outstanding() == 0


def test_handle_requeue_once_applies_to_each_task_alone() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""), added([1, 2]))
    s.handle(TaskStarted(A, 1))
    assert s.handle(WorkerExited(A, "killed", 1)) == [TaskLost(1, A, "killed")]
    s.handle(WorkerJoined(B, ""))  # 2, requeued once, begins on B and finishes
    assert s.handle(TaskStarted(B, 2), TasksFinished(B, [2], [None])) == []
    assert dispatched(s.handle(added([3, 4]))) == {B: [3, 4]}
    s.handle(TaskStarted(B, 3))
    # 4 had not been requeued before: it is requeued, whatever happened to others.
    assert s.handle(WorkerExited(B, "killed", 3)) == [TaskLost(3, B, "killed")]
    assert list(s.pending) == [4] and s.requeued == {4}


def test_handle_repeated_start_is_ignored_and_changes_nothing() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""), added([1, 2]))
    s.handle(TaskStarted(A, 1))
    assert s.handle(TaskStarted(A, 1)) == [IgnoreReport(A, 1)]  # passed on once already
    assert s.running_on(A) == 1
    assert list(s.workers[A].queued) == [2]


def test_handle_late_news_of_a_removed_worker_is_ignored() -> None:
    s = CoordinatorState()
    s.handle(WorkerJoined(A, ""), added([1]))
    s.handle(WorkerExited(A, "gone", None))
    assert s.handle(WorkerLeft(A, "gone again")) == []
    assert s.handle(WorkerExited(A, "gone again", 1)) == []
    assert s.handle(WorkerWrittenOff(A, "too late")) == []
    assert s.handle(TaskStarted(A, 1)) == [IgnoreReport(A, 1)]
    assert s.handle(TasksFinished(A, [1], [None])) == [IgnoreReport(A, 1)]
    assert list(s.pending) == [1]
    assert s.outstanding() == 1


def test_handle_duplicate_hello_changes_nothing() -> None:
    s = CoordinatorState()
    s.handle(WorkerJoined(A, ""), added([1]))
    assert s.handle(WorkerJoined(A, "again")) == []
    assert list(s.workers[A].queued) == [1]
    assert s.workers[A].name == A.hex()


def test_handle_cancel_pending_queued_and_running() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(added([9]))
    assert s.handle(TaskCancelled(9)) == []  # never sent
    assert s.handle(TaskCancelled(9)) == []  # unknown by now
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    s.handle(TaskStarted(A, 1))
    out = s.handle(TaskCancelled(2))
    assert out == [CancelOnWorker(A, 2), Dispatch(A, (3,), ())]
    out = s.handle(TaskCancelled(1))
    assert out[0] == KillWorker(A, "task 1 abandoned")
    assert not any(isinstance(i, TaskLost) for i in out)  # a cancelled task is not "lost"
    assert A not in s.workers
    assert 3 in s.pending
    assert s.outstanding() == 1


def test_handle_cancelled_task_result_is_stale() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""), added([1, 2]))
    s.handle(TaskCancelled(2))
    # The worker had started it before the cancel arrived: it is killed (see below), and 1,
    # which ran there before it, its report not in, is lost.
    out = s.handle(TaskStarted(A, 2))
    assert KillWorker(A, "task 2 abandoned") in out
    assert [i.key for i in out if isinstance(i, TaskLost)] == [1]
    assert s.handle(TasksFinished(A, [2], [None])) == [IgnoreReport(A, 2)]
    assert s.outstanding() == 0


def test_handle_kill_for_memory_reports_reason() -> None:
    s = CoordinatorState()
    s.handle(WorkerJoined(A, ""), added([1]))
    s.handle(TaskStarted(A, 1))
    s.handle(added([2]))
    out = s.handle(WorkerWrittenOff(A, "over memory limit"))
    assert out == [
        KillWorker(A, "over memory limit"),
        TaskLost(1, A, "over memory limit"),
        TaskLost(2, A, "over memory limit (this task was queued on it)"),
    ]


def test_handle_accounts_for_every_task_exactly_once() -> None:
    s = CoordinatorState(prefetch=2)
    s.handle(WorkerJoined(A, ""), WorkerJoined(B, ""))
    s.handle(TasksAdded({k: k % 3 for k in range(20)}, {}))
    ended: list[int] = []
    lost_once = False
    while s.outstanding():
        for w in list(s.workers):
            slot = s.workers[w]
            if slot.queued:
                key = slot.queued[0]
                assert s.handle(TaskStarted(w, key)) == []
                if not lost_once and w == B:
                    lost_once = True
                    out = s.handle(WorkerLeft(B, "x"))
                    ended += [i.key for i in out if isinstance(i, TaskLost)]
                    break
                assert s.handle(TasksFinished(w, [key], [None])) == []
                ended.append(key)
                s.handle(TopUp())
    assert lost_once
    assert sorted(ended) == list(range(20))


def test_coordinator_state_rejects_bad_prefetch() -> None:
    with pytest.raises(ValueError):
        CoordinatorState(prefetch=0)


def test_handle_rejects_a_key_added_twice() -> None:
    s = CoordinatorState()
    s.handle(added([1]))
    with pytest.raises(ValueError, match="task key 1 submitted twice"):
        s.handle(added([1]))
    with pytest.raises(ValueError, match="task key 1 submitted twice"):
        s.handle(added([2, 1]))
    assert list(s.pending) == [1]  # a rejected burst adds nothing
    assert s.outstanding() == 1


def test_handle_queues_deepen_for_short_tasks_and_shrink_for_long_ones() -> None:
    s = CoordinatorState(prefetch=2, max_prefetch=8, queue_seconds=0.002)
    s.handle(WorkerJoined(A, ""))
    out = s.handle(added(range(30)))
    assert dispatched(out) == {A: [0, 1]}  # nothing known yet: prefetch
    for k in (0, 1):
        run(s, A, k, 1e-5)
    assert dispatched(s.handle(TopUp())) == {A: list(range(2, 10))}  # short: max_prefetch
    # Topped up only once down to half its queue: one message per batch, not per task.
    for k in (2, 3, 4):
        run(s, A, k, 1e-5)
        assert s.handle(TopUp()) == []
    run(s, A, 5, 1e-5)
    assert dispatched(s.handle(TopUp())) == {A: [10, 11, 12, 13]}
    # One slow task and the queues are back to prefetch.
    run(s, A, 6, 1.0)
    assert s.depth == 2
    assert s.handle(TopUp()) == []


def test_handle_one_message_of_reports_is_one_event() -> None:
    # Reports arrive many to a message: current ones free their worker's room in order,
    # stale ones (a cancelled task, a task handed elsewhere) are answered one by one.
    s = CoordinatorState(prefetch=2, max_prefetch=8, queue_seconds=0.002)
    s.handle(WorkerJoined(A, ""), WorkerJoined(B, ""), added(range(4)))
    on_a = list(s.workers[A].queued)
    on_b = list(s.workers[B].queued)
    s.handle(TaskCancelled(on_a[1]))
    keys = [on_a[0], on_a[1], on_b[0]]
    out = s.handle(TasksFinished(A, keys, [1e-5, 1e-5, 1e-5]))
    assert out == [IgnoreReport(A, on_a[1]), IgnoreReport(A, on_b[0])]
    assert s.workers[A].tasks_done == 1 and not s.workers[A].queued
    assert s.where == {on_b[0]: B, on_b[1]: B}
    assert s.mean_duration == 1e-5 and s.depth == 8  # only the current report counts
    out = s.handle(TasksFinished(b"gone", [on_b[0]], [None]))  # from no known worker
    assert out == [IgnoreReport(b"gone", on_b[0])]


def test_handle_ignores_nonsense_durations() -> None:
    s = CoordinatorState(prefetch=2, max_prefetch=8)
    s.handle(WorkerJoined(A, ""), added(range(4)))
    for k, took in zip((0, 1), (float("nan"), "soon")):
        run(s, A, k, took)  # type: ignore[arg-type]
    assert s.depth == 2 and s.mean_duration is None


def test_handle_released_functions_are_forgotten_where_held_and_sent_again() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), WorkerJoined(B, ""))
    s.handle(TasksAdded({1: 7}, {7: (6, 7)}))  # one task: one worker gets function 7
    (holder,) = [w for w, slot in s.workers.items() if 7 in slot.functions]
    assert s.handle(TopUp()) == []
    run(s, holder, 1)
    assert s.handle(FunctionsReleased((6, 7, 8))) == [ForgetOnWorker(holder, (6, 7))]
    assert all(not slot.functions for slot in s.workers.values()) and s.loads == {}
    out = s.handle(TasksAdded({2: 7}, {}))  # released ids come back only as new functions
    assert [ins.fn_ids for ins in out if isinstance(ins, Dispatch)] == [(7,)]


def test_handle_start_of_a_later_task_means_the_earlier_ones_finished() -> None:
    # A status page (or a notice) can say task 3 began before the reports of 1 and 2 arrive:
    # the worker runs one task at a time, in order, so 1 and 2 are done, reports on the way.
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3, 4]))
    s.handle(TaskStarted(A, 1))
    assert s.handle(TaskStarted(A, 3)) == []
    assert s.running_on(A) == 3 and list(s.workers[A].queued) == [4]
    assert s.handle(TaskCancelled(1)) == []  # done already: nothing to stop, no kill
    assert s.handle(TasksFinished(A, [1], [0.1])) == [IgnoreReport(A, 1)]  # cancelled meanwhile
    assert s.handle(TasksFinished(A, [2], [0.1])) == []  # its report, late but current
    assert s.workers[A].tasks_done == 1


def test_handle_lost_worker_loses_the_tasks_whose_reports_were_on_the_way() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    s.handle(TaskStarted(A, 2))  # 1 finished, its report not here yet
    out = s.handle(WorkerLeft(A, "gone"))
    lost = sorted(i.key for i in out if isinstance(i, TaskLost))
    assert lost == [1, 2, 3]


def test_state_workers_coming_hold_back_prefetch_until_they_joined() -> None:
    from dagron.workers.state import WorkersComing

    s = CoordinatorState(prefetch=2)
    s.handle(WorkersComing(2), WorkerJoined(b"a", "a"))
    (first,) = s.handle(TasksAdded({1: 0, 2: 0, 3: 0}, {}))
    assert isinstance(first, Dispatch) and first.keys == (1,)  # no queue behind its task
    out = s.handle(WorkerJoined(b"b", "b"), WorkersComing(0))
    sent = {d.worker: d.keys for d in out if isinstance(d, Dispatch)}
    assert sent[b"b"] and sorted(sum(sent.values(), ())) == [2, 3]


def test_handle_worker_beginning_a_task_cancelled_while_queued_is_killed() -> None:
    # The cancel reached the worker too late: it began the task, which nobody wants now.
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    run(s, A, 1)
    assert s.handle(TaskCancelled(2)) == [CancelOnWorker(A, 2)]
    out = s.handle(TaskStarted(A, 2))
    assert KillWorker(A, "task 2 abandoned") in out
    assert not any(isinstance(i, TaskLost) for i in out)  # 1 was reported: nothing ran unseen
    assert A not in s.workers and list(s.pending) == [3]  # 3 never began: it goes elsewhere
    assert dispatched(s.handle(WorkerJoined(B, ""))) == {B: [3]}


def test_handle_worker_dropping_a_cancelled_task_is_left_alone() -> None:
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    s.handle(TaskCancelled(2))
    run(s, A, 1)
    assert s.handle(TaskStarted(A, 3)) == []  # it dropped 2 and went on
    assert A in s.workers and s.workers[A].running == 3
    assert s.handle(TaskStarted(B, 2)) == [IgnoreReport(B, 2)]  # news from nobody we know


def test_handle_cancel_of_a_running_task_loses_what_finished_there_unreported() -> None:
    # The page says 2 began, so 1 finished there, its report not in: killing the worker for
    # the cancel of 2 loses that report; 1 is lost (not left pointing at a gone worker).
    s = CoordinatorState(prefetch=4)
    s.handle(WorkerJoined(A, ""), added([1, 2, 3]))
    s.handle(TaskStarted(A, 2))
    out = s.handle(TaskCancelled(2))
    assert KillWorker(A, "task 2 abandoned") in out
    assert [i.key for i in out if isinstance(i, TaskLost)] == [1]
    assert list(s.pending) == [3]
    assert s.handle(TaskCancelled(1)) == [] and s.handle(TaskCancelled(3)) == []
    assert s.outstanding() == 0
