"""DAGExecutor with calls queued ahead on the threads backend: the run's guarantees hold.

A queued call is handed out before a worker is free. These tests fix the queue depth
(``ThreadsBackend(queue_ahead=...)``) so that queueing happens whatever the calls' durations.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

import pytest

import dagron
from dagron import DAGExecutor, ExecutionCallbacks, NodeStatus
from dagron.backends.threads import ThreadsBackend

WAIT = 10.0


def queued(depth: int = 8) -> Callable[[], ThreadsBackend]:
    return lambda: ThreadsBackend(queue_ahead=depth)


def independent(names: list[str]) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes(names)
    return dag


def recorder() -> tuple[ExecutionCallbacks, list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []

    def note(kind: str) -> Callable[..., None]:
        return lambda name, *_: events.append((kind, name))

    cb = ExecutionCallbacks(
        on_start=note("start"),
        on_complete=note("complete"),
        on_failure=note("failure"),
        on_skip=note("skip"),
        on_cancel=note("cancel"),
    )
    return cb, events


@pytest.mark.parametrize("notices", [True, False])
def test_queue_ahead_fail_fast_starts_no_queued_node(notices: bool) -> None:
    # One worker, every node queued at once behind "boom": its failure must stop the worker
    # from beginning the next queued call before the loop has withdrawn them all. Without
    # an on_start callback the run needs no started notices, and the backend sends none.
    names = ["boom", "x1", "x2", "x3", "x4"]
    ran: list[str] = []
    tasks: dict[str, Callable[[], Any]] = {n: functools.partial(ran.append, n) for n in names[1:]}
    tasks["boom"] = lambda: 1 / 0
    cb, events = recorder()
    if not notices:
        cb.on_start = None
    result = DAGExecutor(independent(names), max_workers=1, backend=queued(), callbacks=cb).execute(
        tasks
    )
    assert ran == []
    assert [result[n].status for n in names] == [NodeStatus.FAILED] + [NodeStatus.SKIPPED] * 4
    # a withdrawn call never started, so it has no on_start
    starts = [("start", "boom")] if notices else []
    assert events == [*starts, ("failure", "boom")] + [("skip", n) for n in names[1:]]


def test_queue_ahead_failure_without_fail_fast_runs_the_queue_on() -> None:
    names = ["a", "boom", "c", "d"]
    tasks: dict[str, Callable[[], Any]] = dict.fromkeys(names, lambda: 1)
    tasks["boom"] = lambda: 1 / 0
    result = DAGExecutor(
        independent(names), max_workers=1, fail_fast=False, backend=queued()
    ).execute(tasks)
    assert (result.succeeded, result.failed) == (3, 1)


def test_queue_ahead_cancel_event_starts_no_queued_node() -> None:
    names = ["a", "b", "c"]
    cancel = threading.Event()
    ran: list[str] = []
    tasks = {"a": cancel.set, "b": lambda: ran.append("b"), "c": lambda: ran.append("c")}
    result = DAGExecutor(independent(names), max_workers=1, backend=queued()).execute(
        tasks, cancel_event=cancel
    )
    assert ran == []
    assert [result[n].status for n in ("b", "c")] == [NodeStatus.CANCELLED] * 2


def test_queue_ahead_timeout_counts_from_the_real_start(release: threading.Event) -> None:
    # "quick" waits in the queue while "stuck" runs into its timeout (0.3 s) and "hold" waits
    # for that; a clock started at queueing would time "quick" out after 0.05 s, first.
    timed_out = threading.Event()
    tasks = {
        "stuck": lambda: release.wait(WAIT),
        "hold": lambda: timed_out.wait(WAIT),
        "quick": lambda: "done",
    }
    result = DAGExecutor(
        independent(list(tasks)),
        max_workers=2,
        fail_fast=False,
        backend=queued(),
        timeout={"stuck": 0.3, "quick": 0.05},
        callbacks=ExecutionCallbacks(on_timeout=lambda n, t: timed_out.set()),
    ).execute(tasks)
    assert result["stuck"].status is NodeStatus.TIMED_OUT
    assert result["hold"].result is True
    assert result["quick"].status is NodeStatus.COMPLETED and result["quick"].result == "done"


def test_queue_ahead_callbacks_keep_their_order() -> None:
    # One worker runs the queue in order; each node's on_start comes from its started
    # notice, so it falls between the previous node's end and its own, never at queueing.
    names = [f"n{i}" for i in range(6)]
    tasks: dict[str, Callable[[], Any]] = {n: functools.partial(str, n) for n in names}
    tasks["n2"] = lambda: 1 / 0
    cb, events = recorder()
    DAGExecutor(
        independent(names), max_workers=1, fail_fast=False, backend=queued(), callbacks=cb
    ).execute(tasks)
    expected = []
    for n in names:
        expected += [("start", n), ("failure" if n == "n2" else "complete", n)]
    assert events == expected


def test_queue_ahead_on_start_precedes_a_call_run_on_the_calling_thread() -> None:
    # A chain runs on the calling thread (no started notice there): on_start must still
    # come before the call, not be made up when the result arrives.
    seen: list[str] = []
    dag = dagron.DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b")
    DAGExecutor(dag, backend=queued(), callbacks=ExecutionCallbacks(on_start=seen.append)).execute(
        {"a": lambda: seen.append("run a"), "b": lambda: seen.append("run b")}
    )
    assert seen == ["a", "run a", "b", "run b"]


def test_queue_ahead_call_queued_behind_a_timed_out_one_gets_a_new_thread() -> None:
    # One worker: "quick" is queued behind "stuck", which times out and keeps its thread.
    # "quick" must run on a replacement thread now, not once "stuck" returns.
    quick_ran, stuck_done = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def stuck() -> None:
        outcome.append(quick_ran.wait(WAIT))
        stuck_done.set()

    result = DAGExecutor(
        independent(["stuck", "quick"]),
        max_workers=1,
        fail_fast=False,
        backend=queued(),
        timeout={"stuck": 0.05},
    ).execute({"stuck": stuck, "quick": quick_ran.set})
    assert result["stuck"].status is NodeStatus.TIMED_OUT
    assert result["quick"].status is NodeStatus.COMPLETED
    assert stuck_done.wait(WAIT) and outcome == [True]
