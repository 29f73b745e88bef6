"""The processes backend: node calls run in worker processes, outside this interpreter's GIL.

``DAGExecutor(dag, backend="processes")`` starts ``max_workers`` local worker processes for
the run and stops them afterwards; ``backend=LocalCluster(...)`` reuses a cluster's warm
workers. Tasks travel cloudpickled over ZeroMQ; results stay serialized in this process
until ``NodeResult.result`` is read, and go to dependent tasks as they are.

Unlike a thread, a worker process can be stopped: a node over its timeout has its worker
killed and replaced.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol

from .._clock import ClockOffset
from ..workers.coordinator import Coordinator
from .base import Backend, Capabilities, Completion

__all__ = ["CoordinatorLender", "ProcessesBackend"]


class CoordinatorLender(Protocol):
    """What lends a run a running coordinator with warm workers (a cluster)."""

    @property
    def n_workers(self) -> int:
        """Workers connected now."""

    @property
    def prefetch(self) -> int:
        """Tasks each worker holds at once."""

    def lend(self) -> Coordinator:
        """The coordinator, for this run alone (runs take turns)."""

    def take_back(self) -> None:
        """The run that borrowed the coordinator is over."""


class ProcessesBackend(Backend):
    """Runs node calls on worker processes: its own for one run, or a cluster's."""

    name = "processes"
    capabilities = Capabilities(clock_offsets=True, memory_limit=True)

    def __init__(self, cluster: Optional[CoordinatorLender] = None, *, prefetch: int = 2) -> None:
        self._cluster = cluster
        self._prefetch = prefetch
        self._memory_limit: Optional[int] = None
        self._coordinator: Optional[Coordinator] = None
        self._owned = cluster is None
        self.capacity = 1

    def start(self, max_workers: int) -> None:
        if self._cluster is None:
            self._coordinator = Coordinator(
                max_workers, prefetch=self._prefetch, memory_limit=self._memory_limit
            )
            self._coordinator.start()
            workers, prefetch = max_workers, self._prefetch
        else:
            self._coordinator = self._cluster.lend()
            workers, prefetch = self._cluster.n_workers, self._cluster.prefetch
        self.slots = workers
        # Enough submissions in flight that every worker has its next tasks queued, as many
        # as the coordinator may hand one worker when tasks are short (it holds the rest).
        self.capacity = workers * max(prefetch, self._coordinator.state.max_prefetch)

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        assert self._coordinator is not None
        self._coordinator.submit(key, fn, args, name)

    def wait(self, timeout: Optional[float]) -> list[Completion]:
        assert self._coordinator is not None
        return self._coordinator.wait(timeout)

    def cancel(self, key: int) -> None:
        assert self._coordinator is not None
        self._coordinator.cancel(key)

    def limit_memory(self, limit: int) -> None:
        if self._cluster is not None:
            raise ValueError(
                "memory_limit cannot be set for a run on a cluster, whose workers are running "
                "already: give it to the cluster, e.g. LocalCluster(memory_limit=...)"
            )
        self._memory_limit = limit

    def clock_offsets(self) -> dict[str, ClockOffset]:
        """Each worker's measured clock offset from this process's clock, by worker name."""
        assert self._coordinator is not None
        return self._coordinator.clock_offsets

    def shutdown(self, wait: bool) -> None:
        coordinator, self._coordinator = self._coordinator, None
        if coordinator is None:
            return
        if self._owned:
            coordinator.close()
        else:
            # Give the cluster back clean: anything still queued or running is abandoned.
            coordinator.end_run()
            assert self._cluster is not None
            self._cluster.take_back()
