"""Clusters users hold and reuse: ``LocalCluster`` on this machine, ``Cluster`` across hosts."""

from __future__ import annotations

import functools
import os
import threading
import weakref
from types import TracebackType
from typing import Any, Optional

from .._sizes import Size, parse_size
from ..backends.base import BackendSource
from .coordinator import Coordinator
from .start_method import StartMethod
from .status import Status
from .turns import Turns

__all__ = ["Cluster", "LocalCluster"]


class _ClusterBase(BackendSource):
    """A coordinator with workers that outlive single runs. Runs on one cluster take turns
    (:class:`~dagron.workers.turns.Turns`): the coordinator is the backend of each run in
    turn, and of nobody between runs."""

    prefetch: int
    _coordinator: Coordinator

    def _setup(self, coordinator: Coordinator, turns: Turns) -> None:
        self._coordinator = coordinator
        self._turns = turns
        self._lock = turns.lock
        self._finalizer = weakref.finalize(self, coordinator.close)

    @property
    def status(self) -> Status:
        return self._coordinator.status

    @property
    def address(self) -> str:
        """Where workers connect."""
        return self._coordinator.address

    @property
    def workers(self) -> list[dict[str, Any]]:
        """One entry per connected worker process: name, host, pid, slots, tasks done."""
        with self._lock:
            return self._coordinator.workers

    @property
    def n_workers(self) -> int:
        return max(1, len(self._coordinator.state.workers))

    def backend(self) -> Coordinator:
        """The backend of a run on this cluster (what ``DAGExecutor(backend=cluster)`` uses):
        its coordinator, which a run waits its turn to start."""
        return self._coordinator

    def close(self) -> None:
        """Stops the workers (remote ones are told to exit). Safe to call twice."""
        self._finalizer()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


class LocalCluster(_ClusterBase):
    """``n_workers`` local worker processes, started once and reused by every run.

    >>> import dagron
    >>> dag = dagron.DAG(); dag.add_node("a")
    >>> with dagron.LocalCluster(n_workers=2) as cluster:
    ...     result = dagron.DAGExecutor(dag, backend=cluster).execute({"a": lambda: 41 + 1})
    >>> result.node_results["a"].result
    42

    ``prefetch`` is how many tasks each worker holds at once (the one it runs and those
    queued behind it; more, up to 32, when tasks take well under a millisecond);
    ``memory_limit`` (bytes, or text such as ``"2GB"`` or ``"512MiB"``) restarts a worker
    whose resident memory goes over it and fails the node it was running.
    ``start_method`` is how workers start: ``"forkserver"`` (forked by a fork server, in
    milliseconds; the default on Linux) or ``"spawn"`` (a fresh interpreter each). It is
    ready once one worker has joined; the others join as they come.
    """

    def __init__(
        self,
        n_workers: Optional[int] = None,
        *,
        prefetch: int = 2,
        memory_limit: Optional[Size] = None,
        start_timeout: float = 60.0,
        start_method: Optional[StartMethod] = None,
    ) -> None:
        self.prefetch = prefetch
        self.memory_limit = None if memory_limit is None else parse_size(memory_limit)
        turns = Turns()
        coordinator = Coordinator(
            n_workers or os.cpu_count() or 1,
            prefetch=prefetch,
            memory_limit=self.memory_limit,
            start_timeout=start_timeout,
            turns=turns,
            start_method=start_method,
        )
        self._setup(coordinator, turns)
        coordinator.open()

    @property
    def n_workers(self) -> int:
        """How many worker processes it keeps (some may still be starting)."""
        return self._coordinator.n_workers

    def __repr__(self) -> str:
        return f"LocalCluster(n_workers={self.n_workers}, status={self.status.value})"


class Cluster(_ClusterBase):
    """A coordinator endpoint that workers on other hosts join with ``dagron-worker``.

    >>> cluster = dagron.Cluster(listen="tcp://0.0.0.0:7878", keys="keys/")  # doctest: +SKIP
    >>> cluster.wait_for_workers(4, timeout=60)                               # doctest: +SKIP
    >>> dagron.DAGExecutor(dag, backend=cluster).execute(tasks)               # doctest: +SKIP
    >>> cluster.close()  # connected workers are told to exit                  # doctest: +SKIP

    Listening on TCP requires ``keys`` (``dagron keygen DIR``), else
    :class:`~dagron.errors.SecurityError` is raised before anything is bound: whoever
    connects can run code here. On a loopback address, ``insecure=True`` accepts keyless
    workers instead, for machines where every local user is trusted. ``local_workers``
    adds worker processes on this machine. A worker silent for ``heartbeat_timeout`` seconds
    is declared lost and the node it was running is retried or failed with
    :class:`~dagron.errors.WorkerLostError`.

    Between runs a background thread keeps answering heartbeats and hellos, so idle workers
    stay connected.
    """

    def __init__(
        self,
        listen: str = "tcp://127.0.0.1:7878",
        *,
        keys: Optional[str] = None,
        local_workers: int = 0,
        prefetch: int = 2,
        heartbeat_period: float = 1.0,
        heartbeat_timeout: float = 5.0,
        start_timeout: float = 60.0,
        insecure: bool = False,
    ) -> None:
        self.prefetch = prefetch
        turns = Turns()
        coordinator = Coordinator(
            local_workers,
            listen=listen,
            keys=os.fspath(keys) if keys is not None else None,
            insecure=insecure,
            prefetch=prefetch,
            heartbeat_period=heartbeat_period,
            heartbeat_timeout=heartbeat_timeout,
            start_timeout=start_timeout,
            turns=turns,
        )
        self._setup(coordinator, turns)
        self._stop = threading.Event()
        coordinator.open()
        self._keepalive = threading.Thread(
            target=self._serve_while_idle, name="dagron-cluster", daemon=True
        )
        self._keepalive.start()
        self._finalizer.detach()
        closer = functools.partial(_close_cluster, self._stop, self._lock, coordinator)
        self._finalizer = weakref.finalize(self, closer)

    def _serve_while_idle(self) -> None:
        # Runs drive the coordinator themselves while they hold the lock; in between, this
        # thread does, briefly at a time so a run never waits long for its turn.
        while not self._stop.is_set():
            if self._turns.waiting:
                self._stop.wait(0.01)  # a run wants the coordinator: let it have it
                continue
            with self._lock:
                if self._stop.is_set() or self._coordinator.status is not Status.RUNNING:
                    return
                self._coordinator.wait(0.1)

    def wait_for_workers(self, n: int, timeout: Optional[float] = None) -> None:
        """Blocks until at least ``n`` worker processes are connected."""
        with self._lock:
            self._coordinator.wait_for_workers(n, timeout)

    def __repr__(self) -> str:
        connected = len(self._coordinator.state.workers)
        return f"Cluster({self.address!r}, workers={connected}, status={self.status.value})"


def _close_cluster(stop: threading.Event, lock: threading.Lock, coordinator: Coordinator) -> None:
    stop.set()
    with lock:
        coordinator.close()
