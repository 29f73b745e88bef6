"""What a run reports: per-node outcomes (`NodeResult`) and the whole run (`ExecutionResult`)."""

from __future__ import annotations

import abc
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NamedTuple, Union

from .errors import ExecutionFailedError

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from ._core import DAG
    from .profiling import Profile
    from .tracing import Trace

__all__ = ["ExecutionResult", "NodeResult", "NodeStatus", "TraceEvent"]


class NodeStatus(Enum):
    """Where a node is, or how it ended.

    A plain ``Enum`` (no ``str`` mixin) so that ``str(status)`` and ``f"{status}"`` both read
    ``NodeStatus.COMPLETED`` on every Python version; mixin enums format differently on 3.11+.

    >>> f"{NodeStatus.COMPLETED}"
    'NodeStatus.COMPLETED'
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class Deferred(abc.ABC):
    """A result a backend has not deserialised yet (the processes backend keeps results as
    bytes until someone reads them). ``NodeResult.result`` calls :meth:`load` once."""

    __slots__ = ()

    @abc.abstractmethod
    def load(self) -> Any:
        """The value itself."""


class NodeResult:
    """The outcome of one node.

    ``result`` is the task's return value (COMPLETED only); ``error`` the exception it raised
    and ``traceback`` that exception's traceback as text (FAILED, TIMED_OUT). Times:
    ``started_at`` and ``finished_at`` are wall-clock stamps taken where the task ran, on the
    coordinator's timeline (worker processes correct for their clock's measured offset),
    ``duration_seconds`` is measured around the call itself (``time.perf_counter``).
    ``attempts`` counts every try including retries (0 for a node that never started), and
    ``worker`` names where it ran (``host/pid/thread`` for the threads backend).

    >>> r = NodeResult("load", NodeStatus.COMPLETED, result="2 rows written", attempts=1)
    >>> r.ok, r.result
    (True, '2 rows written')
    """

    __slots__ = (
        "_result",
        "attempts",
        "duration_seconds",
        "error",
        "finished_at",
        "name",
        "started_at",
        "status",
        "traceback",
        "worker",
    )

    def __init__(
        self,
        name: str,
        status: NodeStatus,
        result: Any = None,
        error: BaseException | None = None,
        traceback: str | None = None,
        duration_seconds: float = 0.0,
        started_at: float | None = None,
        finished_at: float | None = None,
        attempts: int = 0,
        worker: str | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self._result = result
        self.error = error
        self.traceback = traceback
        self.duration_seconds = duration_seconds
        self.started_at = started_at
        self.finished_at = finished_at
        self.attempts = attempts
        self.worker = worker

    @property
    def result(self) -> Any:
        """The task's return value (``None`` unless COMPLETED)."""
        value = self._result
        if isinstance(value, Deferred):
            value = self._result = value.load()
        return value

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value

    @property
    def ok(self) -> bool:
        """True when the node COMPLETED."""
        return self.status is NodeStatus.COMPLETED

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error is not None else ""
        return (
            f"NodeResult({self.name!r}, {self.status}, "
            f"duration_seconds={self.duration_seconds:.6f}, attempts={self.attempts}{extra})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeResult):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        state = {f: getattr(self, f) for f in self.__slots__}
        state["_result"] = self.result  # resolve a Deferred before crossing a boundary
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class TraceEvent(NamedTuple):
    """One scheduling event recorded when ``enable_tracing=True``.

    ``at`` is seconds since the run started on the coordinator's timeline (the one of
    ``NodeResult.started_at``); ``event`` is one of ``start`` (handed to a worker),
    ``complete``, ``failure``, ``retry``, ``timeout``, ``skip``, ``cancel``.
    """

    at: float
    node: str
    event: str


_FAILURE_STATUSES = (NodeStatus.FAILED, NodeStatus.TIMED_OUT)


class ExecutionResult:
    """The report of one run.

    ``node_results`` maps each node name to its :class:`NodeResult`, in topological order.
    ``succeeded``, ``failed``, ``skipped``, ``timed_out`` and ``cancelled`` count nodes by
    status; ``total_duration_seconds`` is the run's wall time; ``result["name"]`` is
    ``result.node_results["name"]``. ``trace`` is a :class:`dagron.Trace` when the run had
    ``enable_tracing=True`` (see :meth:`profile` and :meth:`timeline`), else ``None``.

    >>> r = ExecutionResult({"a": NodeResult("a", NodeStatus.COMPLETED, 1, attempts=1)}, 0.1)
    >>> r.succeeded, r.ok, r["a"].result
    (1, True, 1)
    """

    __slots__ = (
        "cancelled",
        "failed",
        "node_results",
        "skipped",
        "succeeded",
        "timed_out",
        "total_duration_seconds",
        "trace",
    )

    def __init__(
        self,
        node_results: dict[str, NodeResult],
        total_duration_seconds: float,
        trace: Trace | None = None,
    ) -> None:
        self.node_results = node_results
        self.total_duration_seconds = total_duration_seconds
        self.trace = trace
        # list.count compares by identity first: no Python-level Enum.__hash__ per node
        statuses = [r.status for r in node_results.values()]
        self.succeeded = statuses.count(NodeStatus.COMPLETED)
        self.failed = statuses.count(NodeStatus.FAILED)
        self.skipped = statuses.count(NodeStatus.SKIPPED)
        self.timed_out = statuses.count(NodeStatus.TIMED_OUT)
        self.cancelled = statuses.count(NodeStatus.CANCELLED)

    def __getitem__(self, name: str) -> NodeResult:
        return self.node_results[name]

    def __contains__(self, name: object) -> bool:
        return name in self.node_results

    def __iter__(self) -> Iterator[str]:
        return iter(self.node_results)

    def __len__(self) -> int:
        return len(self.node_results)

    @property
    def ok(self) -> bool:
        """True when every node COMPLETED."""
        return self.succeeded == len(self.node_results)

    def nodes_with_status(self, status: NodeStatus) -> list[str]:
        """Names of the nodes that ended with ``status``, in topological order.

        >>> r = ExecutionResult({"a": NodeResult("a", NodeStatus.SKIPPED)}, 0.0)
        >>> r.nodes_with_status(NodeStatus.SKIPPED)
        ['a']
        """
        return [name for name, r in self.node_results.items() if r.status is status]

    def raise_on_failure(self) -> ExecutionResult:
        """Return ``self`` if every node completed, else raise :class:`ExecutionFailedError`.

        The error lists the nodes by outcome and carries each failure's ``"Type: message"``
        in ``errors``; its ``__cause__`` is the first failure's exception.
        """
        if self.ok:
            return self
        by = {s: self.nodes_with_status(s) for s in NodeStatus}
        errors: dict[str, str] = {}
        first: BaseException | None = None
        for name in by[NodeStatus.FAILED] + by[NodeStatus.TIMED_OUT]:
            err = self.node_results[name].error
            errors[name] = describe_error(err)
            if first is None:
                first = err
        raise ExecutionFailedError(
            failed=by[NodeStatus.FAILED],
            timed_out=by[NodeStatus.TIMED_OUT],
            cancelled=by[NodeStatus.CANCELLED],
            skipped=by[NodeStatus.SKIPPED],
            errors=errors,
            total=len(self.node_results),
        ) from first

    if TYPE_CHECKING:
        # Defined by dagron.profiling and dagron.timeline, which build on this module (so it
        # cannot call them); importing dagron imports both. Their docstrings are there.

        def profile(self, dag: DAG | None = None, workers: int | None = None) -> Profile: ...

        def timeline(
            self,
            path: Union[str, os.PathLike[str]],
            dag: DAG | None = None,
            title: str | None = None,
        ) -> Path: ...

    def __repr__(self) -> str:
        return (
            f"ExecutionResult(succeeded={self.succeeded}, failed={self.failed}, "
            f"skipped={self.skipped}, timed_out={self.timed_out}, cancelled={self.cancelled}, "
            f"total_duration_seconds={self.total_duration_seconds:.3f})"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def describe_error(err: BaseException | None) -> str:
    """A failure as one line, ``"Type: message"`` (just ``"Type"`` when the message is empty),
    as :meth:`ExecutionResult.raise_on_failure` and traces report it.

    >>> describe_error(ValueError("bad row")), describe_error(KeyError()), describe_error(None)
    ('ValueError: bad row', 'KeyError', 'unknown error')
    """
    if err is None:
        return "unknown error"
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
