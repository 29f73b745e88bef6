"""NodeStatus, NodeResult, Deferred, Attempt, TraceEvent and the helpers for one node."""

from __future__ import annotations

import doctest
import pickle
from typing import Any

import pytest

from dagron.node_result import (
    Attempt,
    Deferred,
    NodeResult,
    NodeStatus,
    TraceEvent,
    describe_error,
    error_message,
    natural_key,
)


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


def test_attempt_and_trace_event_pickle() -> None:
    a = Attempt("x", 1, NodeStatus.FAILED, 0.0, 1.0, 1.0, "h/w1", "OSError: disk")
    e = TraceEvent(0.5, "x", "failure")
    assert pickle.loads(pickle.dumps((a, e))) == (a, e)
    assert Attempt("x", 2, NodeStatus.COMPLETED, 2.0, 3.0, 1.0, None).error is None


def test_describe_error_reads_type_and_message() -> None:
    assert describe_error(OSError("disk full")) == "OSError: disk full"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert describe_error(None) == "unknown error"


class Outer:
    class MuteError(Exception):
        """An exception that cannot be described: its ``__str__`` and ``__repr__`` raise."""

        def __str__(self) -> str:
            raise RuntimeError("no words")

        def __repr__(self) -> str:
            raise RuntimeError("no words")


def test_describe_error_never_raises_and_says_describing_failed() -> None:
    err = Outer.MuteError("unsayable")
    assert describe_error(err) == "Outer.MuteError: <describing it failed: RuntimeError>"
    assert error_message(err) == "<describing it failed: RuntimeError>"
    r = NodeResult("n", NodeStatus.FAILED, error=err, attempts=1)
    assert repr(r).endswith("error=<Outer.MuteError: <describing it failed: RuntimeError>>)")


def test_natural_key_orders_digit_runs_as_numbers() -> None:
    names = ["h10/w1", "h9/w10", "h9/w2", "h9/w1"]
    assert sorted(names, key=natural_key) == ["h9/w1", "h9/w2", "h9/w10", "h10/w1"]


def test_node_result_module_doctests() -> None:
    import dagron.node_result

    assert doctest.testmod(dagron.node_result).failed == 0
