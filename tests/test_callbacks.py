"""ExecutionCallbacks: order, thread, isolation; and the helpers behind them."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import dagron
from dagron import DAGExecutor, ExecutionCallbacks, NodeStatus
from dagron.callbacks import fire, merge

WAIT = 10.0


def recorder() -> tuple[ExecutionCallbacks, list[tuple[Any, ...]]]:
    events: list[tuple[Any, ...]] = []
    cb = ExecutionCallbacks(
        on_start=lambda n: events.append(("start", n)),
        on_complete=lambda n, v: events.append(("complete", n, v)),
        on_failure=lambda n, e: events.append(("failure", n, type(e).__name__)),
        on_skip=lambda n: events.append(("skip", n)),
        on_retry=lambda n, a, e: events.append(("retry", n, a, type(e).__name__)),
        on_timeout=lambda n, t: events.append(("timeout", n, t)),
        on_cancel=lambda n: events.append(("cancel", n)),
    )
    return cb, events


def chain(*names: str) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes(list(names))
    dag.add_edges(list(zip(names, names[1:])))
    return dag


def test_callbacks_positional_order_matches_the_issue() -> None:
    fns = [lambda *a, i=i: i for i in range(7)]
    cb = ExecutionCallbacks(*fns)
    assert [
        cb.on_start,
        cb.on_complete,
        cb.on_failure,
        cb.on_skip,
        cb.on_retry,
        cb.on_timeout,
        cb.on_cancel,
    ] == fns


def test_callbacks_fire_in_order_for_success_failure_and_skip() -> None:
    cb, events = recorder()
    tasks = {"a": lambda: 1, "b": lambda: 1 / 0, "c": lambda: 3, "d": lambda: 4}
    DAGExecutor(chain("a", "b", "c", "d"), callbacks=cb).execute(tasks)
    assert events == [
        ("start", "a"),
        ("complete", "a", 1),
        ("start", "b"),
        ("failure", "b", "ZeroDivisionError"),
        ("skip", "c"),
        ("skip", "d"),
    ]


def test_callbacks_fire_for_retries_then_final_failure() -> None:
    cb, events = recorder()
    DAGExecutor(chain("a"), callbacks=cb, retries=2).execute({"a": lambda: 1 / 0})
    assert events == [
        ("start", "a"),
        ("retry", "a", 2, "ZeroDivisionError"),
        ("start", "a"),
        ("retry", "a", 3, "ZeroDivisionError"),
        ("start", "a"),
        ("failure", "a", "ZeroDivisionError"),
    ]


def test_callbacks_fire_on_timeout() -> None:
    cb, events = recorder()
    release = threading.Event()
    try:
        DAGExecutor(chain("a", "b"), callbacks=cb, timeout=0.05).execute(
            {"a": lambda: release.wait(WAIT), "b": lambda: None}
        )
    finally:
        release.set()
    assert events == [("start", "a"), ("timeout", "a", 0.05), ("skip", "b")]


def test_callbacks_fire_on_cancel_in_graph_order() -> None:
    cb, events = recorder()
    cancel = threading.Event()
    release = threading.Event()

    def a() -> None:
        cancel.set()
        release.wait(WAIT)

    try:
        DAGExecutor(chain("a", "b", "c"), callbacks=cb).execute(
            {"a": a, "b": lambda: None, "c": lambda: None}, cancel_event=cancel
        )
    finally:
        release.set()
    assert events == [("start", "a"), ("cancel", "a"), ("cancel", "b"), ("cancel", "c")]


def test_callbacks_fail_fast_skips_unstarted_nodes_after_descendants() -> None:
    dag = dagron.DAG()
    dag.add_nodes(["boom", "other", "child"])
    dag.add_edge("boom", "child")
    cb, events = recorder()
    DAGExecutor(dag, max_workers=1, callbacks=cb).execute(
        {"boom": lambda: 1 / 0, "other": lambda: None, "child": lambda: None}
    )
    assert events == [
        ("start", "boom"),
        ("failure", "boom", "ZeroDivisionError"),
        ("skip", "child"),
        ("skip", "other"),
    ]


def test_callbacks_run_on_the_calling_thread() -> None:
    threads: set[int] = set()

    def note(*_: Any) -> None:
        threads.add(threading.get_ident())

    cb = ExecutionCallbacks(on_start=note, on_complete=note, on_failure=note, on_skip=note)
    dag = chain("a", "b", "c")
    DAGExecutor(dag, callbacks=cb).execute({"a": lambda: 1, "b": lambda: 1 / 0, "c": lambda: 1})
    assert threads == {threading.get_ident()}


def test_callbacks_exception_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("callback bug")

    cb = ExecutionCallbacks(
        on_start=explode, on_complete=explode, on_skip=explode, on_failure=explode
    )
    with caplog.at_level(logging.ERROR, logger="dagron"):
        result = DAGExecutor(chain("a", "b", "c"), callbacks=cb).execute(
            {"a": lambda: 1, "b": lambda: 1 / 0, "c": lambda: 3}
        )
    assert [result[n].status for n in "abc"] == [
        NodeStatus.COMPLETED,
        NodeStatus.FAILED,
        NodeStatus.SKIPPED,
    ]
    assert len(caplog.records) == 5  # start a, complete a, start b, failure b, skip c
    assert all(r.name == "dagron" for r in caplog.records)


def test_fire_swallows_exceptions_but_not_keyboard_interrupt() -> None:
    fire(lambda: 1 / 0)

    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fire(stop)


def test_merge_calls_every_set_and_isolates_them(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    first = ExecutionCallbacks(on_start=lambda n: 1 / 0)
    second = ExecutionCallbacks(on_start=lambda n: seen.append(n), on_skip=seen.append)
    merged = merge(first, None, second)
    assert merged is not None and merged.on_start is not None and merged.on_skip is not None
    with caplog.at_level(logging.ERROR, logger="dagron"):
        merged.on_start("x")
    merged.on_skip("y")
    assert seen == ["x", "y"] and "ZeroDivisionError" in caplog.text
    assert merge(None, second) is second and merge() is None


class MuteError(Exception):
    """An exception that cannot be described: its ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no words")

    def __repr__(self) -> str:
        raise RuntimeError("no words")


def test_fire_logs_a_raising_hook_even_when_its_error_cannot_be_described(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_failure(name: str, error: BaseException) -> None:
        raise MuteError("the hook's own")

    with caplog.at_level(logging.ERROR, logger="dagron"):
        fire(on_failure, "load", MuteError("the node's"))
    (record,) = caplog.records
    message = record.getMessage()
    assert "on_failure" in message and "'load'" in message
    assert "MuteError: <describing it failed: RuntimeError>" in message
    assert "MuteError" in caplog.text  # the hook's traceback
