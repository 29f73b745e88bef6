"""ReportIntake without sockets: worker reports in, completions and instructions out."""

from __future__ import annotations

import threading
import time
from typing import Any

from dagron.backends.base import Completion, Failed, Started, Succeeded
from dagron.errors import SerializationError, WorkerLostError
from dagron.workers import results_codec as rc
from dagron.workers.heartbeat import Heartbeats
from dagron.workers.intake import ReportIntake
from dagron.workers.remote import RemoteWorker, RemoteWorkers
from dagron.workers.state import (
    CoordinatorState,
    Dispatch,
    KillWorker,
    TaskLost,
    TasksAdded,
    WorkerJoined,
)
from dagron.workers.task_table import TaskTable

A = b"wA"
KEY0 = 1000  # executor keys are KEY0 + task id: tell the two apart


def setup(
    n_tasks: int, remotes: RemoteWorkers | None = None
) -> tuple[ReportIntake, list[Completion], list[int]]:
    """An intake with worker A joined and ``n_tasks`` tasks dispatched to it (their task
    ids returned; executor key of each: KEY0 + its id); ``remotes`` (and their heartbeats),
    the registry of remote workers, if the test looks at it."""
    state, table = CoordinatorState(prefetch=4), TaskTable()
    state.handle(WorkerJoined(A, "host/a"))
    for n in range(n_tasks):
        assert table.add(KEY0 + n, abs, (-n,), f"n{n}", False) is None
    out = state.handle(TasksAdded(*table.take_added()))
    (dispatch,) = [i for i in out if isinstance(i, Dispatch)]
    done: list[Completion] = []
    if remotes is None:
        remotes = RemoteWorkers(Heartbeats(1.0, 5.0))
    names = {A: "host/a"}
    intake = ReportIntake(state, table, names, {A: object()}, remotes, remotes.heartbeats, done)
    return intake, done, list(dispatch.keys)


def result_message(*reports: Any, started: Any = None) -> list[Any]:
    return rc.encode_result_message(list(reports), started)[1:]  # the parts after the type


def test_intake_result_becomes_succeeded_and_the_next_start_a_started() -> None:
    intake, done, (t1, t2) = setup(2)
    intake.on_result(A, result_message(rc.encode_value(t1, 7, 1.0, 2.0, 0.5), started=(t2, 2.0)))
    first, second = done
    assert type(first) is Succeeded and first.key == KEY0 + t1 and first.worker == "host/a"
    assert first.value.load() == 7  # still serialized: loaded when read
    assert type(second) is Started and second.key == KEY0 + t2
    assert intake.on_result(A, result_message(rc.encode_value(t1, 7, 1.0, 2.0, 0.5))) == []
    assert len(done) == 2  # a task is reported once


def test_intake_repeated_start_is_passed_on_once() -> None:
    intake, done, (t1,) = setup(1)
    intake.started(A, t1, 1.0)
    intake.started(A, t1, 1.0)
    intake.from_pages([(A, t1, 1.0)])  # the page says so too: old news
    assert [type(c) for c in done] == [Started]


def test_intake_page_of_a_task_not_announced_starts_it() -> None:
    intake, done, (t1, t2) = setup(2)
    intake.from_pages([(A, t1, 3.0), (b"stranger", t2, 3.0)])
    assert [(type(c), c[0]) for c in done] == [(Started, KEY0 + t1)]


def test_intake_unreadable_message_writes_the_sender_off() -> None:
    intake, _, (t1,) = setup(1)
    intake.started(A, t1, 1.0)
    kill, lost = intake.on_result(A, [b"\xc1 not a header"])
    assert isinstance(kill, KillWorker) and kill.worker == A
    assert isinstance(lost, TaskLost) and (lost.key, lost.worker) == (t1, A)
    assert "host/a sent a result that cannot be read" in lost.reason


def test_intake_stale_report_is_dropped() -> None:
    intake, done, (t1,) = setup(1)
    intake.on_result(A, result_message(rc.encode_value(t1, 1, 1.0, 2.0, 0.5)))
    intake.on_result(A, result_message(rc.encode_value(t1, 2, 1.0, 2.0, 0.5)))  # again
    assert len([c for c in done if type(c) is Succeeded]) == 1
    assert not any(isinstance(c, Failed) and isinstance(c.error, WorkerLostError) for c in done)


def test_intake_started_notice_of_a_remote_worker_is_a_sign_of_life() -> None:
    # Its task may hold the GIL from then on: its own heartbeats stop until it ends.
    beats: Heartbeats[bytes] = Heartbeats(1.0, 5.0)
    remotes = RemoteWorkers(beats)
    intake, done, (t1,) = setup(1, remotes)
    long_ago = time.monotonic() - 4.5
    remotes.join(A, RemoteWorker("host/a", "far", 1), long_ago)
    intake.on_started(A, [rc.encode_started(t1, 1.0)[1]])
    assert [type(c) for c in done] == [Started]
    assert list(beats.expired(time.monotonic() + 1.0)) == []  # 5 s from now, not from then


def test_intake_message_of_reports_keeps_current_ones_in_order() -> None:
    intake, done, (t1, t2, t3) = setup(3)
    intake.on_result(A, result_message(rc.encode_value(t1, 1, 1.0, 2.0, 0.5)))
    value = rc.encode_value(t3, 3, 2.5, 3.0, 0.5)
    failure = rc.encode_value(t2, threading.Lock(), 2.0, 2.5, 0.5)  # cannot pickle
    again = rc.encode_value(t1, 1, 1.0, 2.0, 0.5)  # stale: reported already
    intake.on_result(A, result_message(again, failure, value))
    assert [(type(c), c.key) for c in done] == [
        (Succeeded, KEY0 + t1),
        (Failed, KEY0 + t2),
        (Succeeded, KEY0 + t3),
    ]
    failed, succeeded = done[1], done[2]
    assert isinstance(failed, Failed) and isinstance(failed.error, SerializationError)
    assert failed.error.node_name == "n1"
    assert isinstance(succeeded, Succeeded) and succeeded.value.load() == 3


def test_intake_report_of_a_task_cancelled_meanwhile_is_dropped() -> None:
    intake, done, (t1, t2) = setup(2)
    table = intake._table
    assert table.cancel(KEY0 + t1) == t1  # the coordinator tells the state later
    intake.on_result(A, result_message(rc.encode_value(t1, 1, 1.0, 2.0, 0.5)))
    intake.started(A, t2, 2.0)
    assert [(type(c), c.key) for c in done] == [(Started, KEY0 + t2)]


def test_intake_lost_task_fails_under_its_key_once() -> None:
    intake, done, (t1,) = setup(1)
    intake.lost(TaskLost(t1, A, "its worker died"))
    intake.lost(TaskLost(t1, A, "its worker died"))  # reported already: dropped
    (failed,) = done
    assert isinstance(failed, Failed) and failed.key == KEY0 + t1
    assert isinstance(failed.error, WorkerLostError) and failed.worker == "host/a"
