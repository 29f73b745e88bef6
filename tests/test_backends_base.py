"""The backend contract: capabilities are declared, reports are typed records."""

from __future__ import annotations

import pickle
import time
from typing import Any, Callable, Sequence

import pytest

import dagron
from dagron._clock import ClockOffset
from dagron.backends import Backend, Capabilities, Completion, create_backend
from dagron.backends.base import Call, Failed, Started, Succeeded


class Serial(Backend):
    """Runs calls inside wait(), one by one; any optional method it has but does not
    declare fails the test if the loop calls it."""

    name = "serial"

    def start(self, max_workers: int) -> None:
        self.capacity = self.slots = 1
        self.queue: list[Call] = []

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        self.queue.append((key, fn, args))

    def wait(self, timeout: float | None) -> Sequence[Completion]:
        out: list[Completion] = []
        for key, fn, args in self.queue:
            now = time.time()
            try:
                out.append(Succeeded(key, fn(*args), now, now, 0.0, "serial"))
            except Exception as exc:
                out.append(Failed(key, exc, None, now, now, 0.0, "serial"))
        self.queue = []
        return out

    def cancel(self, key: int) -> None:
        self.queue = [c for c in self.queue if c[0] != key]

    def shutdown(self, wait: bool) -> None:
        self.queue = []

    def submit_many(self, items: Sequence[Call]) -> None:
        raise AssertionError("not declared: the loop must not call it")

    def run_inline(self, key: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Completion:
        raise AssertionError("not declared: the loop must not call it")

    def clock_offsets(self) -> dict[str, ClockOffset]:
        raise AssertionError("not declared: the loop must not call it")

    def interrupt(self) -> None:
        raise AssertionError("not declared: the loop must not call it")


class SerialWithClocks(Serial):
    capabilities = Capabilities(clock_offsets=True)

    def clock_offsets(self) -> dict[str, ClockOffset]:
        return {"serial": ClockOffset(0.5, 0.001)}


def chain() -> dagron.DAG:
    return dagron.DAG.builder().add_node("a").add_node("b").add_edge("a", "b").build()


def test_backend_capabilities_are_all_off_by_default() -> None:
    caps = Capabilities()
    assert not any(vars(caps).values())
    assert Backend.capabilities == caps


def test_backend_loop_calls_only_declared_optional_methods() -> None:
    result = dagron.DAGExecutor(chain(), backend=Serial, enable_tracing=True).execute(
        {"a": lambda: 1, "b": lambda: 2}
    )
    assert result.succeeded == 2 and result["b"].worker == "serial"
    assert result.trace is not None and result.trace.clock_offsets == {}


def test_backend_declared_clock_offsets_reach_the_trace() -> None:
    result = dagron.DAGExecutor(chain(), backend=SerialWithClocks, enable_tracing=True).execute(
        {"a": lambda: 1, "b": lambda: 2}
    )
    assert result.trace is not None
    assert result.trace.clock_offsets == {"serial": ClockOffset(0.5, 0.001)}


class SerialHearingInterrupts(Serial):
    capabilities = Capabilities(interrupt=True)

    def start(self, max_workers: int) -> None:
        super().start(max_workers)
        self.heard: list[str] = []

    def interrupt(self) -> None:
        self.heard.append("interrupt")

    def cancel(self, key: int) -> None:
        self.heard.append("cancel")
        super().cancel(key)

    def shutdown(self, wait: bool) -> None:
        self.heard.append("shutdown")


def stop_at_a(name: str) -> None:
    if name == "a":
        raise KeyboardInterrupt  # as Ctrl-C on the coordinating thread would


@pytest.mark.parametrize("backend", [Serial, SerialHearingInterrupts])
def test_backend_hears_of_ctrl_c_only_if_declared_and_before_cancels(
    backend: type[Serial],
) -> None:
    made = backend()
    callbacks = dagron.ExecutionCallbacks(on_complete=lambda name, *_: stop_at_a(name))
    dag = dagron.DAG()
    dag.add_nodes(["a", "b"])
    with pytest.raises(dagron.RunInterrupted):
        dagron.DAGExecutor(dag, backend=lambda: made, callbacks=callbacks).execute(
            {"a": lambda: 1, "b": lambda: 2}
        )
    if isinstance(made, SerialHearingInterrupts):
        assert made.heard[0] == "interrupt" and made.heard[-1] == "shutdown"


def test_backend_failed_report_fails_the_node() -> None:
    result = dagron.DAGExecutor(chain(), backend=Serial).execute({"a": lambda: 1 // 0, "b": int})
    assert isinstance(result["a"].error, ZeroDivisionError)
    assert result["b"].status is dagron.NodeStatus.SKIPPED


def test_create_backend_refuses_what_is_not_a_backend() -> None:
    class Lookalike:
        def start(self, max_workers: int) -> None: ...
        def submit(self, *args: Any) -> None: ...
        def wait(self, timeout: float | None) -> list[Any]:
            return []

        def shutdown(self, wait: bool) -> None: ...

    with pytest.raises(TypeError, match=r"not a dagron\.backends\.Backend"):
        create_backend(Lookalike)
    with pytest.raises(TypeError, match="Lookalike"):
        dagron.DAGExecutor(chain(), backend=Lookalike).execute({"a": int, "b": int})


def test_create_backend_takes_an_instance_as_it_is() -> None:
    backend = Serial()
    assert create_backend(backend) is backend


@pytest.mark.parametrize(
    "report",
    [
        Started(1, 2.0, "w"),
        Succeeded(1, [1, 2], 2.0, 3.0, 1.0, "w"),
        Failed(1, ValueError("x"), "tb", 2.0, 3.0, 1.0, "w"),
    ],
)
def test_backend_reports_are_tuples_that_pickle(report: Completion) -> None:
    back = pickle.loads(pickle.dumps(report))
    assert type(back) is type(report) and back.key == 1 and back.worker == "w"


def test_backend_reports_built_fast_equal_built_by_name() -> None:
    fast = tuple.__new__(Succeeded, (1, "v", 2.0, 3.0, 1.0, "w"))
    assert fast == Succeeded(1, "v", 2.0, 3.0, 1.0, "w") and fast.value == "v"


def test_backend_missing_a_required_method_cannot_be_made() -> None:
    class NoWait(Backend):
        def start(self, max_workers: int) -> None: ...
        def submit(
            self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
        ) -> None: ...
        def cancel(self, key: int) -> None: ...
        def shutdown(self, wait: bool) -> None: ...

    with pytest.raises(TypeError, match="wait"):
        NoWait()  # type: ignore[abstract]


def test_backend_undeclared_optional_method_says_so() -> None:
    class Plain(Serial):
        def submit_many(self, items: Sequence[Call]) -> None:
            Backend.submit_many(self, items)

    with pytest.raises(TypeError, match=r"Plain\.submit_many\(\) was called"):
        Plain().submit_many([])
