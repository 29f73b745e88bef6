"""Profiles of finished runs: where the time went and what to speed up.

``dagron.profile(result)`` (or ``result.profile()``) reads a run's trace and reports:

* the **critical path**: the heaviest chain of dependent nodes, weighing each node by the
  time its attempts took (``DAG.critical_path`` with the observed durations). No number of
  workers can make the run shorter than this chain;
* **bottlenecks**: the nodes on that path whose speed-up would shorten it most, each with the
  time the path would lose if the node took no time at all (``saving``), and every node's
  **slack** (how much longer it could have taken without lengthening the critical path);
* each **worker's busy and idle time** and the **parallel efficiency**,
  busy time / (workers x makespan);
* **scheduling overhead**: per node, the time from becoming ready (its last predecessor
  finished, or the run started) to starting. It includes time spent waiting for a free worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from .trace_profile import Bottleneck, Profile, WorkerUsage, profile_trace
from .tracing import Trace

if TYPE_CHECKING:
    from ._core import DAG
    from .result import ExecutionResult

__all__ = ["Bottleneck", "Profile", "WorkerUsage", "profile"]


def profile(
    run: Union[ExecutionResult, Trace],
    *,
    dag: DAG | None = None,
    workers: int | None = None,
) -> Profile:
    """Profile a finished run from its trace (``DAGExecutor(..., enable_tracing=True)``).

    ``run`` is an :class:`~dagron.ExecutionResult` or its :class:`~dagron.Trace`. A result
    without a trace can be profiled from its node results if the ``dag`` that ran is given.
    ``workers`` is the worker count for the efficiency (default: the workers that ran
    something, at most the run's ``max_workers``: on the threads backend the calling thread
    stands in for a pool thread before the pool starts, so it does not count extra).

    >>> import dagron
    >>> dag = dagron.DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").build()
    >>> result = dagron.DAGExecutor(dag, enable_tracing=True).execute(
    ...     {"a": lambda: 1, "b": lambda: 2})
    >>> dagron.profile(result).critical_path
    ['a', 'b']
    """
    return profile_trace(trace_of(run, dag), workers)


def trace_of(run: Union[ExecutionResult, Trace], dag: DAG | None = None) -> Trace:
    """The trace of ``run``, or one built from its node results and ``dag``."""
    if isinstance(run, Trace):
        return run
    trace = getattr(run, "trace", None)
    if isinstance(trace, Trace):
        return trace
    if dag is not None:
        return Trace.from_results(run, dag.edges())
    raise ValueError(
        "this result has no trace: run with DAGExecutor(..., enable_tracing=True), "
        "or pass the dag that ran (profile(result, dag=dag))"
    )
