"""@task and Pipeline: dependency inference, data passing, parallelism, options, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import pytest

from dagron import NodeStatus, Pipeline, task
from dagron.errors import CycleError, DuplicateNodeError, UnresolvedParameterError
from dagron.pipeline import Task

WAIT = 10.0


@pytest.fixture
def release() -> Iterator[threading.Event]:
    ev = threading.Event()
    yield ev
    ev.set()


def test_task_decorator_keeps_the_function_callable() -> None:
    @task
    def double(fetch: list[int]) -> list[int]:
        """Doubles."""
        return [x * 2 for x in fetch]

    assert isinstance(double, Task)
    assert double([1, 2]) == [2, 4]
    assert (double.name, double.parameters, double.__doc__) == ("double", ["fetch"], "Doubles.")


def test_task_decorator_with_options() -> None:
    @task(name="renamed", timeout=3.0, retries=2)
    def f() -> None:
        pass

    assert (f.name, f.timeout, f.retries) == ("renamed", 3.0, 2)


def test_pipeline_infers_edges_from_parameter_names() -> None:
    @task
    def a() -> int:
        return 1

    @task
    def b(a: int) -> int:
        return a + 1

    @task
    def c(a: int, b: int) -> int:
        return a + b

    p = Pipeline([c, a, b], name="abc")  # any order: edges decide
    assert sorted(p.dag.edges()) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert p.dependencies == {"c": ["a", "b"], "a": [], "b": ["a"]}
    assert p.execute()["c"].result == 3
    assert "abc" in repr(p)


def test_pipeline_passes_results_to_fan_in() -> None:
    @task
    def left() -> str:
        return "L"

    @task
    def right() -> str:
        return "R"

    @task
    def join(right: str, left: str) -> str:
        return left + right

    assert Pipeline([left, right, join]).execute()["join"].result == "LR"


def test_pipeline_runs_independent_tasks_in_parallel() -> None:
    barrier = threading.Barrier(2, timeout=WAIT)

    @task
    def one() -> int:
        barrier.wait()  # only passes if two() is running at the same time
        return 1

    @task
    def two() -> int:
        barrier.wait()
        return 2

    @task
    def total(one: int, two: int) -> int:
        return one + two

    result = Pipeline([one, two, total]).execute(max_workers=2)
    assert result["total"].result == 3


def test_pipeline_parameter_with_default_is_not_a_dependency() -> None:
    @task
    def scaled(factor: int = 3) -> int:
        return factor * 2

    p = Pipeline([scaled])
    assert p.dag.edge_count() == 0 and p.execute()["scaled"].result == 6


def test_pipeline_unresolved_parameter_is_an_error_at_construction() -> None:
    @task
    def save(dubble: list[int]) -> None:
        pass

    with pytest.raises(UnresolvedParameterError) as info:
        Pipeline([save])
    assert (info.value.node_name, info.value.parameter) == ("save", "dubble")


def test_pipeline_duplicate_task_names_are_an_error() -> None:
    with pytest.raises(DuplicateNodeError):
        Pipeline([task(name="x")(lambda: 1), task(name="x")(lambda: 2)])


def test_pipeline_cycle_is_an_error() -> None:
    @task
    def a(b: int) -> int:
        return b

    @task
    def b(a: int) -> int:
        return a

    with pytest.raises(CycleError):
        Pipeline([a, b])


def test_pipeline_accepts_plain_functions_and_positional_only_parameters() -> None:
    def base() -> int:
        return 20

    def plus(base: int, /, extra: int = 1) -> int:
        return base + extra

    assert Pipeline([base, plus]).execute()["plus"].result == 21


def test_pipeline_task_options_apply(release: threading.Event) -> None:
    calls: list[int] = []

    @task(retries=2)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("flaky")
        return "ok"

    @task(timeout=0.05)
    def stuck() -> None:
        release.wait(WAIT)

    result = Pipeline([flaky, stuck]).execute(fail_fast=False)
    assert result["flaky"].attempts == 3 and result["flaky"].result == "ok"
    assert result["stuck"].status is NodeStatus.TIMED_OUT


def test_pipeline_failure_skips_dependents() -> None:
    @task
    def fetch() -> list[int]:
        raise ValueError("api down")

    @task
    def use(fetch: list[int]) -> int:
        return len(fetch)

    result = Pipeline([fetch, use]).execute()
    assert result["fetch"].status is NodeStatus.FAILED
    assert result["use"].status is NodeStatus.SKIPPED


def test_pipeline_cancel_event_option() -> None:
    cancel = threading.Event()
    cancel.set()

    @task
    def never() -> None:
        raise AssertionError("should not run")

    assert Pipeline([never]).execute(cancel_event=cancel).cancelled == 1


def test_pipeline_async_tasks_on_sync_and_async_executors() -> None:
    @task
    async def fetch() -> list[int]:
        await asyncio.sleep(0)
        return [1, 2, 3]

    @task
    def count(fetch: list[int]) -> int:
        return len(fetch)

    p = Pipeline([fetch, count])
    assert p.execute()["count"].result == 3
    assert asyncio.run(p.execute_async())["count"].result == 3


def test_pipeline_keyword_only_parameters_are_dependencies() -> None:
    @task
    def a() -> int:
        return 5

    @task
    def b(*, a: int, **extra: Any) -> int:
        return a * 2

    assert Pipeline([a, b]).execute()["b"].result == 10
