"""DAGExecutor on the threads backend: ordering, parallelism, failures, timeouts, retries,
cancellation, data passing and bad input. Concurrency is proven with barriers and events."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any, Callable, Iterator

import pytest

import dagron
from dagron import DAGExecutor, ExecutionCallbacks, NodeStatus, task
from dagron.errors import (
    MissingTaskError,
    RunInterrupted,
    TaskNotCallableError,
    TaskTimeoutError,
    UnknownTaskError,
)

WAIT = 10.0  # seconds a test waits on an event before declaring a hang


def make_dag(nodes: list[str], edges: list[tuple[str, str]] = ()) -> dagron.DAG:  # type: ignore[assignment]
    dag = dagron.DAG()
    dag.add_nodes(nodes)
    dag.add_edges(list(edges))
    return dag


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event stuck tasks wait on; set at teardown so no thread outlives its test."""
    ev = threading.Event()
    yield ev
    ev.set()


class Log:
    """Thread-safe record of what tasks did, in the order they did it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def task(self, name: str, value: Any = None) -> Callable[[], Any]:
        def run() -> Any:
            with self.lock:
                self.events.append(("start", name))
            with self.lock:
                self.events.append(("end", name))
            return value

        return run

    def index(self, what: str, name: str) -> int:
        return self.events.index((what, name))


def test_executor_runs_each_node_after_its_predecessors() -> None:
    nodes = [f"n{i}" for i in range(60)]
    edges = [(f"n{i}", f"n{j}") for i in range(60) for j in (2 * i + 1, 2 * i + 2) if j < 60]
    edges += [("n5", "n40"), ("n7", "n33"), ("n1", "n59")]
    dag = make_dag(nodes, edges)
    log = Log()
    result = DAGExecutor(dag, max_workers=4).execute({n: log.task(n) for n in nodes})
    assert result.succeeded == 60 and result.ok
    for a, b in edges:
        assert log.index("end", a) < log.index("start", b)


def test_executor_starts_a_node_when_its_own_predecessors_finish_not_at_a_level() -> None:
    # slow (level 0) blocks until after_fast (level 1) has run. With a level barrier
    # after_fast would wait for slow: a deadlock that ends with slow's wait timing out.
    dag = make_dag(["fast", "slow", "after_fast"], [("fast", "after_fast")])
    ran = threading.Event()

    def slow() -> bool:
        return ran.wait(WAIT)

    result = DAGExecutor(dag, max_workers=2).execute(
        {"fast": lambda: None, "slow": slow, "after_fast": ran.set}
    )
    assert result["slow"].result is True


def test_executor_starts_the_critical_path_first() -> None:
    # short and long_1 are both ready; long_1 heads the longer path, so it goes first, and
    # long_2 (two nodes to go) beats short (one); short and long_3 tie: insertion order.
    dag = make_dag(
        ["short", "long_1", "long_2", "long_3"], [("long_1", "long_2"), ("long_2", "long_3")]
    )
    order: list[str] = []
    cb = ExecutionCallbacks(on_start=order.append)
    DAGExecutor(dag, max_workers=1, callbacks=cb).execute(
        {n: (lambda: None) for n in dag.node_names()}
    )
    assert order == ["long_1", "long_2", "short", "long_3"]


def test_executor_runs_up_to_max_workers_at_once() -> None:
    nodes = [f"t{i}" for i in range(6)]
    barrier = threading.Barrier(3, timeout=WAIT)
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def work() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        barrier.wait()  # three at a time must be running for anyone to pass
        with lock:
            running[0] -= 1

    result = DAGExecutor(make_dag(nodes), max_workers=3).execute(dict.fromkeys(nodes, work))
    assert result.ok
    assert running[1] == 3


def test_executor_records_result_times_attempts_and_worker() -> None:
    result = DAGExecutor(make_dag(["a", "b"]), max_workers=2).execute(
        {"a": lambda: 42, "b": lambda: 43}
    )
    r = result["a"]
    assert (r.name, r.status, r.result, r.error, r.traceback, r.attempts) == (
        "a",
        NodeStatus.COMPLETED,
        42,
        None,
        None,
        1,
    )
    assert r.started_at is not None and r.finished_at is not None and r.worker is not None
    assert r.started_at <= r.finished_at and r.duration_seconds >= 0
    assert str(os.getpid()) in r.worker and "dagron-worker" in r.worker
    assert result.total_duration_seconds >= 0


def test_executor_runs_a_lone_ready_node_on_the_calling_thread() -> None:
    # Nothing else in flight or ready: running it here loses no parallelism.
    here = threading.current_thread().name
    dag = make_dag(["a", "b"], [("a", "b")])
    tasks = {"a": threading.current_thread, "b": threading.current_thread}
    result = DAGExecutor(dag).execute(tasks)
    assert result["a"].result is threading.current_thread()
    assert (result["a"].worker or "").endswith("/" + here)
    # ...but not when the loop must stay free to notice a cancel_event, or for a timeout.
    result = DAGExecutor(dag).execute(tasks, cancel_event=threading.Event())
    assert result["a"].result is not threading.current_thread()
    result = DAGExecutor(dag, timeout={"b": 60.0}).execute(tasks)
    assert result["b"].result is not threading.current_thread()


def test_executor_lone_node_inside_a_running_event_loop_uses_a_worker() -> None:
    import asyncio

    async def main() -> Any:
        return DAGExecutor(make_dag(["a"])).execute({"a": threading.current_thread})

    assert asyncio.run(main())["a"].result is not threading.current_thread()


def test_executor_orders_node_results_topologically() -> None:
    dag = make_dag(
        ["load", "extract", "transform"], [("extract", "transform"), ("transform", "load")]
    )
    result = DAGExecutor(dag).execute(dict.fromkeys(dag.node_names(), lambda: None))
    assert list(result.node_results) == dag.topological_sort() == ["extract", "transform", "load"]


def test_executor_empty_dag_returns_empty_result() -> None:
    result = DAGExecutor(dagron.DAG()).execute({})
    assert len(result) == 0 and result.ok


def test_executor_can_run_twice() -> None:
    ex = DAGExecutor(make_dag(["a", "b"], [("a", "b")]))
    tasks = {"a": lambda: 1, "b": lambda: 2}
    assert ex.execute(tasks).succeeded == 2
    assert ex.execute(tasks).succeeded == 2


def test_executor_failure_records_error_and_traceback_text() -> None:
    def broken() -> None:
        raise ValueError("bad rows")

    r = DAGExecutor(make_dag(["a"])).execute({"a": broken})["a"]
    assert r.status is NodeStatus.FAILED
    assert isinstance(r.error, ValueError) and str(r.error) == "bad rows"
    assert isinstance(r.traceback, str)
    assert "broken" in r.traceback and "ValueError: bad rows" in r.traceback


def test_executor_fail_fast_skips_descendants_and_unstarted_nodes() -> None:
    # One worker: "boom" goes first (insertion order breaks the tie), so "other" has not
    # started when it fails and is skipped too: fail-fast starts nothing new.
    dag = make_dag(["boom", "other", "child"], [("boom", "child")])
    ran: list[str] = []
    result = DAGExecutor(dag, max_workers=1).execute(
        {"boom": lambda: 1 / 0, "other": lambda: ran.append("other"), "child": lambda: None}
    )
    assert [result[n].status for n in ("boom", "other", "child")] == [
        NodeStatus.FAILED,
        NodeStatus.SKIPPED,
        NodeStatus.SKIPPED,
    ]
    assert (result.failed, result.skipped, ran) == (1, 2, [])


def test_executor_fail_fast_lets_running_nodes_finish() -> None:
    dag = make_dag(["boom", "busy", "after_busy"], [("busy", "after_busy")])
    barrier = threading.Barrier(2, timeout=WAIT)
    failure_seen = threading.Event()

    def boom() -> None:
        barrier.wait()  # busy is running too
        raise RuntimeError("boom")

    def busy() -> str:
        barrier.wait()
        failure_seen.wait(WAIT)  # still running when the loop handles boom's failure
        return "done"

    result = DAGExecutor(
        dag, max_workers=2, callbacks=ExecutionCallbacks(on_failure=lambda n, e: failure_seen.set())
    ).execute({"boom": boom, "busy": busy, "after_busy": lambda: None})
    assert result["busy"].status is NodeStatus.COMPLETED and result["busy"].result == "done"
    assert result["after_busy"].status is NodeStatus.SKIPPED


def test_executor_without_fail_fast_runs_every_independent_branch() -> None:
    dag = make_dag(
        ["root", "bad", "bad_child", "bad_grandchild", "good", "good_child"],
        [
            ("root", "bad"),
            ("bad", "bad_child"),
            ("bad_child", "bad_grandchild"),
            ("root", "good"),
            ("good", "good_child"),
        ],
    )
    tasks: dict[str, Callable[[], Any]] = dict.fromkeys(dag.node_names(), lambda: None)
    tasks["bad"] = lambda: 1 / 0
    result = DAGExecutor(dag, max_workers=1, fail_fast=False).execute(tasks)
    assert {n: r.status.name for n, r in result.node_results.items()} == {
        "root": "COMPLETED",
        "bad": "FAILED",
        "bad_child": "SKIPPED",
        "bad_grandchild": "SKIPPED",
        "good": "COMPLETED",
        "good_child": "COMPLETED",
    }


def test_executor_pass_results_gives_each_task_its_predecessors_results() -> None:
    dag = make_dag(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    seen: dict[str, dict[str, Any]] = {}

    def node(name: str, value: int) -> Callable[[dict[str, Any]], int]:
        def run(inputs: dict[str, Any]) -> int:
            seen[name] = inputs
            return value + sum(inputs.values())

        return run

    result = DAGExecutor(dag).execute(
        {"a": node("a", 1), "b": node("b", 10), "c": node("c", 100), "d": node("d", 0)},
        pass_results=True,
    )
    assert seen == {"a": {}, "b": {"a": 1}, "c": {"a": 1}, "d": {"b": 11, "c": 101}}
    assert result["d"].result == 112


def test_executor_missing_task_is_rejected_before_anything_runs() -> None:
    ran: list[str] = []
    with pytest.raises(MissingTaskError) as info:
        DAGExecutor(make_dag(["a", "b", "c"])).execute({"a": lambda: ran.append("a")})
    assert info.value.node_names == ["b", "c"] and "'b'" in str(info.value)
    assert ran == []


def test_executor_unknown_task_is_rejected() -> None:
    with pytest.raises(UnknownTaskError) as info:
        DAGExecutor(make_dag(["a"])).execute({"a": lambda: None, "zzz": lambda: None})
    assert info.value.node_names == ["zzz"]


def test_executor_misspelt_task_names_both_sides() -> None:
    with pytest.raises(MissingTaskError, match="transfrom"):
        DAGExecutor(make_dag(["transform"])).execute({"transfrom": lambda: None})


def test_executor_non_callable_task_is_rejected() -> None:
    with pytest.raises(TaskNotCallableError) as info:
        bad: dict[str, Any] = {"a": lambda: None, "b": "not a function"}
        DAGExecutor(make_dag(["a", "b"])).execute(bad)
    assert info.value.node_names == ["b"]
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    "options",
    [
        {"max_workers": 0},
        {"max_workers": 1.5},
        {"retries": -1},
        {"retry_delay": -1.0},
        {"backend": "no-such-backend"},
    ],
)
def test_executor_rejects_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DAGExecutor(make_dag(["a"]), **options)


def test_executor_rejects_bad_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        DAGExecutor(make_dag(["a"]), timeout=0).execute({"a": lambda: None})


def test_executor_max_workers_defaults_to_cpu_count() -> None:
    assert DAGExecutor(make_dag(["a"])).max_workers == (os.cpu_count() or 1)


def test_executor_timeout_marks_node_and_skips_downstream(release: threading.Event) -> None:
    dag = make_dag(["stuck", "after"], [("stuck", "after")])
    returned = threading.Event()

    def stuck() -> None:
        release.wait(WAIT)
        returned.set()

    result = DAGExecutor(dag, timeout=0.1).execute({"stuck": stuck, "after": lambda: None})
    r = result["stuck"]
    assert r.status is NodeStatus.TIMED_OUT and result.timed_out == 1
    assert isinstance(r.error, TaskTimeoutError) and r.error.timeout == 0.1
    assert r.error.node_name == "stuck"
    assert result["after"].status is NodeStatus.SKIPPED
    # execute() came back while the call is still blocked: a thread cannot be killed.
    assert not returned.is_set()


def test_executor_unreached_timeout_does_not_hold_the_run() -> None:
    # A node that finishes well within a long timeout: execute() returns at once instead of
    # waiting for the deadline (a regression would hang here until pytest-timeout fires).
    dag = make_dag(["a", "b"], [("a", "b")])
    result = DAGExecutor(dag, timeout=3600.0).execute({"a": lambda: 1, "b": lambda: 2})
    assert result.succeeded == 2


def test_executor_timeout_keeps_parallelism_for_other_nodes(release: threading.Event) -> None:
    # One worker. After "stuck" times out its thread is still blocked, yet "later" runs.
    dag = make_dag(["stuck", "later"])
    result = DAGExecutor(dag, max_workers=1, timeout={"stuck": 0.1}, fail_fast=False).execute(
        {"stuck": lambda: release.wait(WAIT), "later": lambda: "ran"}
    )
    assert result["stuck"].status is NodeStatus.TIMED_OUT
    assert result["later"].result == "ran"


def test_executor_timeout_mapping_applies_per_node(release: threading.Event) -> None:
    dag = make_dag(["quick", "stuck"])
    result = DAGExecutor(dag, fail_fast=False).execute(
        {"quick": lambda: 1, "stuck": lambda: release.wait(WAIT)}, timeout={"stuck": 0.05}
    )
    assert result["quick"].status is NodeStatus.COMPLETED
    assert result["stuck"].status is NodeStatus.TIMED_OUT


def test_executor_timeout_from_task_decorator(release: threading.Event) -> None:
    @task(timeout=0.05)
    def stuck() -> None:
        release.wait(WAIT)

    result = DAGExecutor(make_dag(["stuck"])).execute({"stuck": stuck})
    assert result["stuck"].status is NodeStatus.TIMED_OUT


def test_executor_timeout_from_task_decorator_on_an_async_task(release: threading.Event) -> None:
    # The sync executor wraps an async task to run it on a thread; its options still count.
    @task(timeout=0.05, retries=1)
    async def stuck() -> None:
        release.wait(WAIT)

    result = DAGExecutor(make_dag(["stuck"])).execute({"stuck": stuck})
    assert result["stuck"].status is NodeStatus.TIMED_OUT and result["stuck"].attempts == 2


def test_executor_execute_timeout_overrides_constructor(release: threading.Event) -> None:
    ex = DAGExecutor(make_dag(["stuck"]), timeout=WAIT * 10)
    result = ex.execute({"stuck": lambda: release.wait(WAIT)}, timeout=0.05)
    assert result["stuck"].status is NodeStatus.TIMED_OUT


def test_executor_retries_until_success() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    r = DAGExecutor(make_dag(["a"]), retries=2).execute({"a": flaky})["a"]
    assert (r.status, r.result, r.attempts, len(calls)) == (NodeStatus.COMPLETED, "ok", 3, 3)


def test_executor_retries_exhausted_fails_with_last_error() -> None:
    attempt = iter(range(1, 10))

    def always() -> None:
        raise ValueError(f"attempt {next(attempt)}")

    r = DAGExecutor(make_dag(["a"]), retries=2).execute({"a": always})["a"]
    assert r.status is NodeStatus.FAILED and r.attempts == 3
    assert str(r.error) == "attempt 3"


def test_executor_retry_delay_callable_gets_attempt_numbers() -> None:
    asked: list[int] = []

    def backoff(attempt: int) -> float:
        asked.append(attempt)
        return 0.001 * attempt

    r = DAGExecutor(make_dag(["a"]), retries=2, retry_delay=backoff).execute({"a": lambda: 1 / 0})
    assert asked == [2, 3] and r["a"].attempts == 3


def test_executor_retry_delay_seconds() -> None:
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("flaky")

    r = DAGExecutor(make_dag(["a"]), retries=1, retry_delay=0.01).execute({"a": flaky})
    assert r["a"].status is NodeStatus.COMPLETED and r["a"].attempts == 2


def test_executor_retries_per_node_mapping_and_decorator() -> None:
    @task(retries=1)
    def decorated() -> None:
        raise ValueError

    dag = make_dag(["mapped", "decorated", "plain"])
    r = DAGExecutor(dag, fail_fast=False, retries={"mapped": 2}).execute(
        {"mapped": lambda: 1 / 0, "decorated": decorated, "plain": lambda: 1 / 0}
    )
    assert [r[n].attempts for n in ("mapped", "decorated", "plain")] == [3, 2, 1]


def test_executor_retries_a_timed_out_attempt(release: threading.Event) -> None:
    calls = []

    def hangs_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            release.wait(WAIT)
        return "second time lucky"

    r = DAGExecutor(make_dag(["a"]), timeout=0.1, retries=1).execute({"a": hangs_once})["a"]
    assert (r.status, r.result, r.attempts) == (NodeStatus.COMPLETED, "second time lucky", 2)


def test_executor_fail_fast_ends_pending_retry_as_failed() -> None:
    dag = make_dag(["boom", "flaky"])
    barrier = threading.Barrier(2, timeout=WAIT)

    def boom() -> None:
        barrier.wait()
        raise RuntimeError("boom")

    def flaky() -> None:
        barrier.wait()
        raise OSError("flaky")

    r = DAGExecutor(dag, max_workers=2, retries={"flaky": 5}, retry_delay=30.0).execute(
        {"boom": boom, "flaky": flaky}
    )
    # Whichever failure the loop sees first, the run stops: nobody waits 30 s for a retry.
    assert r["boom"].status is NodeStatus.FAILED
    assert r["flaky"].status is NodeStatus.FAILED and r["flaky"].attempts == 1


def test_executor_cancel_event_cancels_running_and_unstarted(release: threading.Event) -> None:
    dag = make_dag(["first", "second", "third"], [("first", "second"), ("second", "third")])
    cancel = threading.Event()
    returned = threading.Event()

    def first() -> None:
        cancel.set()
        release.wait(WAIT)
        returned.set()

    result = DAGExecutor(dag).execute(
        {"first": first, "second": lambda: None, "third": lambda: None}, cancel_event=cancel
    )
    assert result.cancelled == 3
    assert all(r.status is NodeStatus.CANCELLED for r in result.node_results.values())
    assert result["first"].attempts == 1 and result["second"].attempts == 0
    assert not returned.is_set()  # returned without waiting for the running call


def test_executor_cancel_event_set_before_start_runs_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    ran: list[str] = []
    result = DAGExecutor(make_dag(["a"])).execute(
        {"a": lambda: ran.append("a")}, cancel_event=cancel
    )
    assert result.cancelled == 1 and ran == []


def test_executor_keyboard_interrupt_in_loop_cancels_and_raises_with_the_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dag = make_dag(["a", "b", "c"], [("a", "b"), ("b", "c")])

    def on_start(name: str) -> None:
        if name == "b":
            raise KeyboardInterrupt  # as if Ctrl-C arrived on the coordinating thread

    with caplog.at_level(logging.WARNING, logger="dagron"):
        with pytest.raises(RunInterrupted) as raised:
            DAGExecutor(dag, callbacks=ExecutionCallbacks(on_start=on_start)).execute(
                dict.fromkeys(dag.node_names(), lambda: None)
            )
    assert isinstance(raised.value, KeyboardInterrupt)
    result = raised.value.result
    assert [result[n].status for n in "abc"] == [
        NodeStatus.COMPLETED,
        NodeStatus.CANCELLED,
        NodeStatus.CANCELLED,
    ]
    assert "interrupted" in caplog.text


@pytest.mark.parametrize("where", ["pool thread", "calling thread"])
def test_executor_sigint_cancels_and_raises(release: threading.Event, where: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")
    dag = make_dag(["a", "b"], [("a", "b")])

    def ctrl_c() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        release.wait(WAIT)

    # With a timeout "a" runs on a pool thread and Ctrl-C lands in the loop's wait; without,
    # it runs on this thread (the lone-node shortcut) and lands inside the task.
    timeout = {"a": 60.0} if where == "pool thread" else None
    with pytest.raises(RunInterrupted) as raised:
        DAGExecutor(dag, timeout=timeout).execute({"a": ctrl_c, "b": lambda: None})
    assert raised.value.result.cancelled == 2


def test_executor_runs_async_tasks_on_worker_threads() -> None:
    async def coro() -> str:
        return "from a coroutine"

    result = DAGExecutor(make_dag(["a"])).execute({"a": coro})
    assert result["a"].result == "from a coroutine"


def test_executor_enable_tracing_records_events_in_order() -> None:
    dag = make_dag(["a", "b"], [("a", "b")])
    result = DAGExecutor(dag, enable_tracing=True).execute({"a": lambda: None, "b": lambda: None})
    assert result.trace is not None
    assert [(e.node, e.event) for e in result.trace] == [
        ("a", "start"),
        ("a", "complete"),
        ("b", "start"),
        ("b", "complete"),
    ]
    assert [e.at for e in result.trace] == sorted(e.at for e in result.trace)
    assert DAGExecutor(dag).execute({"a": lambda: None, "b": lambda: None}).trace is None


def test_executor_large_random_dag_respects_every_edge() -> None:
    import random

    rng = random.Random(7)
    n = 400
    nodes = [f"v{i}" for i in range(n)]
    edges = sorted(
        {(f"v{a}", f"v{b}") for b in range(1, n) for a in rng.sample(range(b), min(b, 3))}
    )
    dag = make_dag(nodes, edges)
    counter = iter(range(10**9))
    finished: dict[str, int] = {}
    started: dict[str, int] = {}
    lock = threading.Lock()

    def make(name: str) -> Callable[[], None]:
        def run() -> None:
            with lock:
                started[name] = next(counter)
                finished[name] = next(counter)

        return run

    result = DAGExecutor(dag, max_workers=4).execute({v: make(v) for v in nodes})
    assert result.succeeded == n
    assert all(finished[a] < started[b] for a, b in edges)


class MuteError(Exception):
    """An exception that cannot be described: its ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no words")

    def __repr__(self) -> str:
        raise RuntimeError("no words")


def raise_mute() -> None:
    raise MuteError("unsayable")


@pytest.mark.timeout(30)
def test_executor_exception_whose_str_raises_fails_its_node_and_is_described(
    check_undescribable_failure: Callable[[dagron.ExecutionResult, str, str], None],
) -> None:
    dag = make_dag(["mute", "after", "fine"], [("mute", "after")])
    result = DAGExecutor(dag, retries=1, fail_fast=False, enable_tracing=True).execute(
        {"mute": raise_mute, "after": lambda: 1, "fine": lambda: 2}, progress=True
    )
    check_undescribable_failure(result, "mute", "MuteError")
    assert result.node_results["mute"].attempts == 2
    assert result.node_results["after"].status is NodeStatus.SKIPPED
    assert result.node_results["fine"].result == 2
    assert result.trace is not None
    errors = [a.error for a in result.trace.attempts if a.node == "mute"]
    assert errors == ["MuteError: <describing it failed: RuntimeError>"] * 2
