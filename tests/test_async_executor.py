"""AsyncDAGExecutor: coroutine tasks, plain tasks on threads, timeouts that cancel."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, Iterator

import pytest

import dagron
from dagron import AsyncDAGExecutor, ExecutionCallbacks, NodeStatus
from dagron.errors import MissingTaskError, RunInterrupted, TaskTimeoutError

WAIT = 10.0


def make_dag(nodes: list[str], edges: list[tuple[str, str]] = ()) -> dagron.DAG:  # type: ignore[assignment]
    dag = dagron.DAG()
    dag.add_nodes(nodes)
    dag.add_edges(list(edges))
    return dag


@pytest.fixture
def release() -> Iterator[threading.Event]:
    ev = threading.Event()
    yield ev
    ev.set()


def value(v: Any) -> Callable[..., Awaitable[Any]]:
    async def run(*_: Any) -> Any:
        await asyncio.sleep(0)
        return v

    return run


def test_async_executor_runs_coroutines_in_dependency_order() -> None:
    dag = make_dag(["a", "b", "c"], [("a", "b"), ("b", "c")])
    order: list[str] = []

    def rec(name: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            order.append(name)
            return name

        return run

    result = asyncio.run(AsyncDAGExecutor(dag).execute({n: rec(n) for n in "abc"}))
    assert order == ["a", "b", "c"] and result.succeeded == 3 and result["c"].result == "c"
    assert "asyncio" in result["a"].worker  # type: ignore[operator]


def test_async_executor_runs_independent_coroutines_concurrently() -> None:
    async def main() -> dagron.ExecutionResult:
        a_started, b_started = asyncio.Event(), asyncio.Event()

        async def a() -> None:
            a_started.set()
            await asyncio.wait_for(b_started.wait(), WAIT)

        async def b() -> None:
            b_started.set()
            await asyncio.wait_for(a_started.wait(), WAIT)

        return await AsyncDAGExecutor(make_dag(["a", "b"])).execute({"a": a, "b": b})

    assert asyncio.run(main()).succeeded == 2


def test_async_executor_runs_plain_callables_on_threads() -> None:
    loop_thread: list[int] = []

    def plain() -> int:
        return threading.get_ident()

    async def main() -> dagron.ExecutionResult:
        loop_thread.append(threading.get_ident())
        return await AsyncDAGExecutor(make_dag(["p"])).execute({"p": plain})

    result = asyncio.run(main())
    assert result["p"].result != loop_thread[0]
    assert "dagron-async" in result["p"].worker  # type: ignore[operator]


def test_async_executor_respects_max_workers() -> None:
    running = [0, 0]

    async def work() -> None:
        running[0] += 1
        running[1] = max(running[1], running[0])
        for _ in range(3):
            await asyncio.sleep(0)
        running[0] -= 1

    nodes = [f"n{i}" for i in range(8)]
    asyncio.run(
        AsyncDAGExecutor(make_dag(nodes), max_workers=3).execute(dict.fromkeys(nodes, work))
    )
    assert running[1] == 3


def test_async_executor_timeout_cancels_the_coroutine() -> None:
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    dag = make_dag(["slow", "after"], [("slow", "after")])
    result = asyncio.run(
        AsyncDAGExecutor(dag, timeout=0.05).execute({"slow": slow, "after": value(1)})
    )
    assert result["slow"].status is NodeStatus.TIMED_OUT
    assert isinstance(result["slow"].error, TaskTimeoutError)
    assert result["after"].status is NodeStatus.SKIPPED
    assert cancelled == [True]


def test_async_executor_unreached_timeout_does_not_hold_the_run() -> None:
    dag = make_dag(["a", "b"], [("a", "b")])
    result = asyncio.run(
        AsyncDAGExecutor(dag, timeout=3600.0).execute({"a": value(1), "b": lambda: 2})
    )
    assert result.succeeded == 2


def test_async_executor_timeout_of_a_plain_callable_returns_without_it(
    release: threading.Event,
) -> None:
    result = asyncio.run(
        AsyncDAGExecutor(make_dag(["stuck"]), timeout=0.05).execute(
            {"stuck": lambda: release.wait(WAIT)}
        )
    )
    assert result["stuck"].status is NodeStatus.TIMED_OUT


def test_async_executor_failure_fail_fast_and_not() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    dag = make_dag(["boom", "child", "other"], [("boom", "child")])
    tasks = {"boom": boom, "child": value(1), "other": value(2)}
    fast = asyncio.run(AsyncDAGExecutor(dag, max_workers=1).execute(tasks))
    assert [fast[n].status.name for n in ("boom", "child", "other")] == [
        "FAILED",
        "SKIPPED",
        "SKIPPED",
    ]
    assert "boom" in fast["boom"].traceback  # type: ignore[operator]
    slow = asyncio.run(AsyncDAGExecutor(dag, max_workers=1, fail_fast=False).execute(tasks))
    assert [slow[n].status.name for n in ("boom", "child", "other")] == [
        "FAILED",
        "SKIPPED",
        "COMPLETED",
    ]


def test_async_executor_retries() -> None:
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise OSError("flaky")
        return "ok"

    result = asyncio.run(
        AsyncDAGExecutor(make_dag(["f"]), retries=1, retry_delay=0.01).execute({"f": flaky})
    )
    assert result["f"].result == "ok" and result["f"].attempts == 2


def test_async_executor_cancel_event_cancels_everything() -> None:
    async def main() -> tuple[dagron.ExecutionResult, list[bool]]:
        cancel = asyncio.Event()
        unwound: list[bool] = []

        async def first() -> None:
            cancel.set()
            try:
                await asyncio.sleep(WAIT)
            except asyncio.CancelledError:
                unwound.append(True)
                raise

        dag = make_dag(["first", "second"], [("first", "second")])
        result = await AsyncDAGExecutor(dag).execute(
            {"first": first, "second": value(2)}, cancel_event=cancel
        )
        return result, unwound

    result, unwound = asyncio.run(main())
    assert result.cancelled == 2 and unwound == [True]


def test_async_executor_outer_cancellation_propagates_and_cancels_nodes() -> None:
    unwound: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            unwound.append(True)
            raise

    async def main() -> None:
        run = asyncio.ensure_future(AsyncDAGExecutor(make_dag(["f"])).execute({"f": forever}))
        await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(main())
    assert unwound == [True]


def test_async_executor_keyboard_interrupt_cancels_and_raises_with_the_result() -> None:
    unwound: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            unwound.append(True)
            raise

    def on_complete(name: str, *_: Any) -> None:
        raise KeyboardInterrupt  # as Ctrl-C on the loop's thread would

    async def main() -> None:
        dag = make_dag(["quick", "slow"])
        ex = AsyncDAGExecutor(dag, callbacks=ExecutionCallbacks(on_complete=on_complete))
        await ex.execute({"quick": value(1), "slow": forever})

    with pytest.raises(RunInterrupted) as raised:
        asyncio.run(main())
    result = raised.value.result
    assert result["quick"].status is NodeStatus.COMPLETED
    assert result["slow"].status is NodeStatus.CANCELLED and unwound == [True]


def test_async_executor_pass_results_and_callbacks_on_loop_thread() -> None:
    seen_threads: set[int] = set()
    events: list[str] = []

    def note(name: str, *_: Any) -> None:
        seen_threads.add(threading.get_ident())
        events.append(name)

    async def add(inputs: dict[str, int]) -> int:
        return sum(inputs.values()) + 1

    async def main() -> dagron.ExecutionResult:
        seen_threads.add(threading.get_ident())
        dag = make_dag(["a", "b", "c"], [("a", "c"), ("b", "c")])
        ex = AsyncDAGExecutor(dag, callbacks=ExecutionCallbacks(on_complete=note))
        return await ex.execute({"a": add, "b": add, "c": add}, pass_results=True)

    result = asyncio.run(main())
    assert result["c"].result == 3
    assert len(seen_threads) == 1 and sorted(events) == ["a", "b", "c"]


def test_async_executor_rejects_bad_input_before_running() -> None:
    with pytest.raises(MissingTaskError):
        asyncio.run(AsyncDAGExecutor(make_dag(["a", "b"])).execute({"a": value(1)}))


def test_async_executor_enable_tracing() -> None:
    result = asyncio.run(
        AsyncDAGExecutor(make_dag(["a"]), enable_tracing=True).execute({"a": value(1)})
    )
    assert [(e.node, e.event) for e in result.trace or []] == [("a", "start"), ("a", "complete")]


class MuteError(Exception):
    """An exception that cannot be described: its ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no words")

    def __repr__(self) -> str:
        raise RuntimeError("no words")


def raise_mute() -> None:
    raise MuteError("unsayable")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["coroutine", "callable"])
def test_async_executor_exception_whose_str_raises_fails_its_node_and_is_described(
    kind: str,
    check_undescribable_failure: Callable[[dagron.ExecutionResult, str, str], None],
) -> None:
    async def mute() -> None:
        raise_mute()

    dag = dagron.DAG()
    dag.add_nodes(["mute", "fine"])
    task = mute if kind == "coroutine" else raise_mute
    tasks = {"mute": task, "fine": lambda: 2}
    result = asyncio.run(AsyncDAGExecutor(dag, retries=1, fail_fast=False).execute(tasks))
    check_undescribable_failure(result, "mute", "MuteError")
    assert result.node_results["mute"].attempts == 2
    assert result.node_results["fine"].result == 2
