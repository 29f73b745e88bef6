"""ExecutionResult: counts, access, failure summary, pickling, and its methods."""

from __future__ import annotations

import doctest
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import dagron
from dagron.errors import DagronError, ExecutionFailedError, TaskTimeoutError
from dagron.result import ExecutionResult, NodeResult, NodeStatus, TraceEvent
from dagron.timeline import render_timeline
from dagron.tracing import Trace


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
    # dagron.result sits above profiling and timeline: its methods need nothing else imported.
    code = (
        "from dagron.result import ExecutionResult as R\n"
        "print(callable(R.profile), callable(R.timeline))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_result_module_doctests() -> None:
    import dagron.result

    assert doctest.testmod(dagron.result).failed == 0


def test_result_reexports_the_node_level_names() -> None:
    import dagron.node_result
    import dagron.result

    for name in ("Deferred", "NodeResult", "NodeStatus", "TraceEvent", "describe_error"):
        assert getattr(dagron.result, name) is getattr(dagron.node_result, name)


def test_execution_result_profile_and_timeline_match_the_functions(tmp_path: Path) -> None:
    a = NodeResult(
        "a",
        NodeStatus.COMPLETED,
        started_at=1.0,
        finished_at=3.0,
        duration_seconds=2.0,
        attempts=1,
        worker="h/1/t",
    )
    r = ExecutionResult({"a": a}, 2.0, Trace.from_results({"a": a}, []))
    assert r.profile(workers=2) == dagron.profile(r, workers=2)
    out = r.timeline(tmp_path / "run.html", title="t")
    assert out.read_text(encoding="utf-8") == render_timeline(r, title="t")
