"""NodeStatus, NodeResult and ExecutionResult."""

from __future__ import annotations

import doctest
import pickle
import subprocess
import sys
from typing import Any

import pytest

from dagron.errors import DagronError, ExecutionFailedError, TaskTimeoutError
from dagron.result import Deferred, ExecutionResult, NodeResult, NodeStatus, TraceEvent
from dagron.tracing import Trace


@pytest.mark.parametrize("status", list(NodeStatus))
def test_node_status_prints_as_qualified_name(status: NodeStatus) -> None:
    expected = f"NodeStatus.{status.name}"
    assert f"{status}" == expected
    assert str(status) == expected
    assert format(status, "") == expected


def test_node_status_is_a_plain_enum_with_lowercase_values() -> None:
    assert not isinstance(NodeStatus.COMPLETED, str)
    assert [s.name for s in NodeStatus] == [
        "PENDING",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "SKIPPED",
        "TIMED_OUT",
        "CANCELLED",
    ]
    assert NodeStatus.TIMED_OUT.value == "timed_out"


def test_node_result_defaults_and_ok() -> None:
    r = NodeResult("a", NodeStatus.SKIPPED)
    assert (r.result, r.error, r.traceback, r.duration_seconds) == (None, None, None, 0.0)
    assert (r.started_at, r.finished_at, r.attempts, r.worker) == (None, None, 0, None)
    assert not r.ok
    assert NodeResult("a", NodeStatus.COMPLETED).ok


def test_node_result_repr_mentions_status_and_error() -> None:
    r = NodeResult("a", NodeStatus.FAILED, error=ValueError("x"), attempts=2)
    assert "NodeStatus.FAILED" in repr(r) and "ValueError" in repr(r) and "'a'" in repr(r)


class CountingDeferred(Deferred):
    def __init__(self, value: Any) -> None:
        self.value = value
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        return self.value


def test_node_result_loads_a_deferred_result_once() -> None:
    d = CountingDeferred([1, 2])
    r = NodeResult("a", NodeStatus.COMPLETED, d)
    assert r.result == [1, 2] and r.result == [1, 2]
    assert d.loads == 1


def test_node_result_pickles_with_deferred_resolved() -> None:
    r = NodeResult(
        "a", NodeStatus.COMPLETED, CountingDeferred(5), None, None, 0.5, 1.0, 1.5, 1, "w"
    )
    back = pickle.loads(pickle.dumps(r))
    assert back == r and back.result == 5 and back._result == 5


def make_result() -> ExecutionResult:
    return ExecutionResult(
        {
            "extract": NodeResult("extract", NodeStatus.COMPLETED, [1], attempts=1),
            "transform": NodeResult(
                "transform", NodeStatus.FAILED, error=ValueError("Data quality check failed!")
            ),
            "load": NodeResult("load", NodeStatus.SKIPPED),
            "late": NodeResult("late", NodeStatus.TIMED_OUT, error=TaskTimeoutError("late", 2.0)),
            "never": NodeResult("never", NodeStatus.CANCELLED),
        },
        1.25,
    )


def test_execution_result_counts_by_status() -> None:
    r = make_result()
    assert (r.succeeded, r.failed, r.skipped, r.timed_out, r.cancelled) == (1, 1, 1, 1, 1)
    assert r.total_duration_seconds == 1.25 and not r.ok and len(r) == 5


def test_execution_result_item_access_and_order() -> None:
    r = make_result()
    assert r["extract"] is r.node_results["extract"]
    assert "load" in r and "nope" not in r
    assert list(r) == ["extract", "transform", "load", "late", "never"]
    with pytest.raises(KeyError):
        r["nope"]


def test_execution_result_nodes_with_status() -> None:
    assert make_result().nodes_with_status(NodeStatus.SKIPPED) == ["load"]


def test_execution_result_raise_on_failure_returns_self_when_ok() -> None:
    ok = ExecutionResult({"a": NodeResult("a", NodeStatus.COMPLETED)}, 0.0)
    assert ok.ok and ok.raise_on_failure() is ok


def test_execution_result_raise_on_failure_summarises() -> None:
    with pytest.raises(ExecutionFailedError) as info:
        make_result().raise_on_failure()
    err = info.value
    assert isinstance(err, DagronError)
    assert (err.failed, err.timed_out, err.skipped, err.cancelled) == (
        ["transform"],
        ["late"],
        ["load"],
        ["never"],
    )
    assert err.errors == {
        "transform": "ValueError: Data quality check failed!",
        "late": "TaskTimeoutError: node 'late' timed out after 2s",
    }
    assert str(err).startswith("4 of 5 node(s) did not complete: 'transform' failed (ValueError")
    assert isinstance(err.__cause__, ValueError)


def test_execution_result_pickles() -> None:
    r = make_result()
    back = pickle.loads(pickle.dumps(r))
    assert list(back) == list(r) and back.failed == 1 and back["extract"].result == [1]


def test_execution_result_repr_and_trace() -> None:
    trace = Trace.from_results({}, [], started_at=0.0, events=[TraceEvent(0.0, "a", "start")])
    r = ExecutionResult({}, 0.0, trace)
    assert r.trace == trace and r.ok
    assert "succeeded=0" in repr(r)


def test_execution_result_methods_exist_after_importing_only_result() -> None:
    # profile() and timeline() come from the modules that build on dagron.result; importing
    # any dagron module imports the package, and with it them.
    code = (
        "from dagron.result import ExecutionResult as R\n"
        "print(callable(R.profile), callable(R.timeline))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_result_module_doctests() -> None:
    import dagron.result

    assert doctest.testmod(dagron.result).failed == 0
