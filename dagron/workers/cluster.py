"""``LocalCluster``: worker processes on this machine that stay warm across runs."""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType
from typing import Any, Callable, Optional

from .coordinator import Coordinator
from .status import Status

__all__ = ["LocalCluster"]


class LocalCluster:
    """``n_workers`` local worker processes, started once and reused by every run.

    >>> import dagron
    >>> dag = dagron.DAG(); dag.add_node("a")
    >>> with dagron.LocalCluster(n_workers=2) as cluster:
    ...     result = dagron.DAGExecutor(dag, backend=cluster).execute({"a": lambda: 41 + 1})
    >>> result.node_results["a"].result
    42

    ``prefetch`` is how many tasks each worker holds at once (the one it runs and those
    queued behind it); ``memory_limit`` (bytes) restarts a worker whose resident memory
    goes over it and fails the node it was running. Runs on one cluster take turns.
    """

    def __init__(
        self,
        n_workers: Optional[int] = None,
        *,
        prefetch: int = 2,
        memory_limit: Optional[int] = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.n_workers = n_workers or os.cpu_count() or 1
        self.prefetch = prefetch
        self.memory_limit = memory_limit
        self._coordinator = Coordinator(
            self.n_workers,
            prefetch=prefetch,
            memory_limit=memory_limit,
            start_timeout=start_timeout,
        )
        # One run at a time: the coordinator is driven by the run's own thread.
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._coordinator.close)
        self._coordinator.start()

    @property
    def status(self) -> Status:
        return self._coordinator.status

    @property
    def address(self) -> str:
        return self._coordinator.address

    @property
    def workers(self) -> list[dict[str, Any]]:
        """One entry per worker process: name, pid, tasks done."""
        return self._coordinator.workers

    def backend(self) -> Any:
        """A backend for one run on this cluster (what ``DAGExecutor(backend=cluster)`` uses)."""
        from ..backends.processes import ProcessesBackend

        return ProcessesBackend(cluster=self)

    def _acquire(self) -> Coordinator:
        if self._coordinator.status is not Status.RUNNING:
            raise RuntimeError(f"this LocalCluster is {self._coordinator.status.value}")
        self._lock.acquire()
        return self._coordinator

    def _release(self) -> None:
        self._lock.release()

    def close(self) -> None:
        """Stops every worker process. Safe to call twice."""
        self._finalizer()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalCluster(n_workers={self.n_workers}, status={self.status.value})"


_Factory = Callable[[], Any]
