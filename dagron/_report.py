"""The report of a run: its per-node results assembled into an :class:`ExecutionResult`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .node_result import NodeResult, NodeStatus
from .result import ExecutionResult

if TYPE_CHECKING:
    from ._core import DAG
    from .tracing import Recorder


def build_report(
    names: Sequence[str],
    results: Sequence[NodeResult | None],
    order: Sequence[str],
    elapsed: float,
    dag: DAG,
    trace: Recorder | None,
    retried: list[NodeResult],
) -> ExecutionResult:
    """``results[i]`` is node ``names[i]``'s (None: it never ran, reported PENDING); the
    report's ``node_results`` follow ``order`` (a topological order), and with ``trace`` it
    carries the trace, ``retried`` being the tries that were retried."""
    by_name = dict(zip(names, results))
    if not all(results):  # (not "None in": that calls NodeResult.__eq__ per node)
        for i, r in enumerate(results):
            if r is None:
                by_name[names[i]] = NodeResult(names[i], NodeStatus.PENDING)
    if order == names:  # nodes added in a topological order: nothing to sort
        ordered: dict[str, NodeResult] = by_name  # type: ignore[assignment]
    else:
        ordered = {name: by_name[name] for name in order}  # type: ignore[misc]
    built = None
    if trace is not None:
        built = trace.build(ordered, dag.edges(), retried)
    return ExecutionResult(ordered, elapsed, built)
