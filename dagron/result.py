"""What a run reports: the whole run (`ExecutionResult`), on top of what each node reports
(`NodeResult`, `NodeStatus`, ... from :mod:`dagron.node_result`, re-exported here).

It sits above tracing, profiling and the timeline, so that a result offers its profile and
its picture as methods (which import them when called: a run without a trace never needs
them).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Union

from .errors import ExecutionFailedError
from .node_result import Deferred, NodeResult, NodeStatus, TraceEvent, describe_error

if TYPE_CHECKING:
    from pathlib import Path

    from ._core import DAG
    from .profiling import Profile
    from .tracing import Trace

__all__ = [
    "Deferred",
    "ExecutionResult",
    "NodeResult",
    "NodeStatus",
    "TraceEvent",
    "describe_error",
]


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

    def profile(self, dag: DAG | None = None, workers: int | None = None) -> Profile:
        """:func:`dagron.profile` of this run: critical path, bottlenecks, worker use.

        Needs the run's trace (``enable_tracing=True``); without one, pass the ``dag`` that
        ran and the profile is built from the node results alone.
        """
        from .profiling import profile

        return profile(self, dag=dag, workers=workers)

    def timeline(
        self, path: Union[str, os.PathLike[str]], dag: DAG | None = None, title: str | None = None
    ) -> Path:
        """Write the run as a self-contained HTML Gantt chart (one row per worker, bars
        coloured by status, critical path outlined) to ``path``; returns the path. Needs the
        trace or the ``dag``, as :meth:`profile` does."""
        from .timeline import write_timeline

        return write_timeline(self, path, dag=dag, title=title)

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
