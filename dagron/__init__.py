"""dagron: build directed acyclic graphs of work and run them fast.

>>> import dagron
>>> dag = dagron.DAG.builder().add_node("a").add_node("b").add_edge("a", "b").build()
>>> dag.topological_sort()
['a', 'b']
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._core import DAG, DAGBuilder, __version__
from ._lazy import lazy_names
from .errors import (
    CycleError,
    DagronError,
    DuplicateEdgeError,
    DuplicateNodeError,
    EdgeNotFoundError,
    ExecutionError,
    ExecutionFailedError,
    GraphError,
    InvalidGraphJSONError,
    MissingTaskError,
    NodeNotFoundError,
    RemoteTaskError,
    RunInterrupted,
    SecurityError,
    SerializationError,
    TaskNotCallableError,
    TaskTimeoutError,
    UnknownTaskError,
    UnresolvedParameterError,
    WorkerError,
    WorkerLostError,
    WorkerStartError,
)

if TYPE_CHECKING:
    from .async_executor import AsyncDAGExecutor
    from .backends.dask_backend import DaskBackend
    from .callbacks import ExecutionCallbacks
    from .executor import DAGExecutor
    from .pipeline import Pipeline, task
    from .profiling import profile
    from .result import ExecutionResult, NodeResult, NodeStatus
    from .tracing import Trace
    from .workers import Cluster, LocalCluster, shutdown_default_pool

# Imported on first use: the executor and what it reports, the worker engine (zmq,
# psutil), asyncio, dask and tracing. A program pays for what it touches, and a worker
# process, which imports this package for its engine alone, for none of them.
_LAZY = {
    "DAGExecutor": "dagron.executor",
    "ExecutionCallbacks": "dagron.callbacks",
    "ExecutionResult": "dagron.result",
    "NodeResult": "dagron.result",
    "NodeStatus": "dagron.result",
    "Pipeline": "dagron.pipeline",
    "task": "dagron.pipeline",
    "AsyncDAGExecutor": "dagron.async_executor",
    "DaskBackend": "dagron.backends.dask_backend",
    "Cluster": "dagron.workers",
    "LocalCluster": "dagron.workers",
    "Trace": "dagron.tracing",
    "profile": "dagron.profiling",
    "shutdown_default_pool": "dagron.workers",
}


__getattr__ = lazy_names(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# A library logs, the application decides where it goes: without this, warnings about
# failed nodes would reach stderr through logging's last-resort handler.
logging.getLogger("dagron").addHandler(logging.NullHandler())

__all__ = [
    "DAG",
    "AsyncDAGExecutor",
    "DAGBuilder",
    "DAGExecutor",
    "DaskBackend",
    "ExecutionCallbacks",
    "ExecutionResult",
    "Cluster",
    "LocalCluster",
    "NodeResult",
    "NodeStatus",
    "Pipeline",
    "task",
    "Trace",
    "profile",
    "shutdown_default_pool",
    "CycleError",
    "DagronError",
    "DuplicateEdgeError",
    "DuplicateNodeError",
    "EdgeNotFoundError",
    "ExecutionError",
    "ExecutionFailedError",
    "GraphError",
    "InvalidGraphJSONError",
    "MissingTaskError",
    "NodeNotFoundError",
    "RemoteTaskError",
    "RunInterrupted",
    "SecurityError",
    "SerializationError",
    "TaskNotCallableError",
    "TaskTimeoutError",
    "UnknownTaskError",
    "UnresolvedParameterError",
    "WorkerError",
    "WorkerLostError",
    "WorkerStartError",
    "__version__",
]
