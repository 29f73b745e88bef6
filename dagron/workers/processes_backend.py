"""The ``"processes"`` backend: a run on local worker processes.

A run borrows the default pool's warm workers (:mod:`~dagron.workers.default_pool`),
started by the first run and sized by its ``max_workers``. When another run holds the
pool (runs from several threads at once), it starts workers of its own instead, and stops
them when it ends. Either way a :class:`~dagron.workers.coordinator.Coordinator` does the
work; this backend only decides whose, and whether the pool's stays for the next run.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from .._clock import ClockOffset
from ..backends.base import Backend, Capabilities, Completion
from .coordinator import Coordinator
from .default_pool import DEFAULT_POOL, DefaultPool

__all__ = ["ProcessesBackend"]


class ProcessesBackend(Backend):
    """One run on local worker processes: the default pool's (``pool``; default
    :data:`~dagron.workers.default_pool.DEFAULT_POOL`), or the run's own while another run
    holds the pool. ``DAGExecutor(dag, backend="processes")`` makes one per run.

    The pool's coordinator stays for the next run only if this run leaves it sound: a
    run stopped by Ctrl-C (:meth:`interrupt`), or one during which the coordinator
    raised, stops the pool's workers, and the next run starts new ones.
    """

    name = "processes"
    capabilities = Capabilities(clock_offsets=True, memory_limit=True, interrupt=True)

    _coordinator: Coordinator  # set by start()

    def __init__(self, pool: Optional[DefaultPool] = None) -> None:
        self._pool = DEFAULT_POOL if pool is None else pool
        self._memory_limit: Optional[int] = None
        self._started = False
        self._pooled = False  # the pool's coordinator, not one of the run's own
        self._sound = True  # nothing happened that leaves the coordinator in doubt

    def limit_memory(self, limit: int) -> None:
        """Restarts a worker whose resident memory goes over ``limit`` bytes; before
        :meth:`start`. The pool's workers are restarted if they had another limit."""
        if self._started:
            raise ValueError("memory_limit must be set before the run starts")
        self._memory_limit = limit

    def start(self, max_workers: int) -> None:
        """Borrows the pool's coordinator with ``max_workers`` workers (the pool is
        started, or rebuilt for another size), or starts one of the run's own if another
        run holds the pool."""
        self._started = True
        leased = self._pool.lease(max_workers, self._memory_limit)
        self._pooled = leased is not None
        self._coordinator = coordinator = (
            leased if leased is not None else Coordinator(memory_limit=self._memory_limit)
        )
        try:
            coordinator.start(max_workers)
        except BaseException:
            self._sound = False
            self.shutdown(wait=False)
            raise
        self.slots, self.capacity = coordinator.slots, coordinator.capacity

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        """Queues ``fn(*args)`` under ``key`` (see :meth:`Coordinator.submit`)."""
        try:
            self._coordinator.submit(key, fn, args, name)
        except BaseException:
            self._sound = False
            raise

    def wait(self, timeout: Optional[float]) -> Sequence[Completion]:
        """The completions available, waiting up to ``timeout`` for the first."""
        try:
            return self._coordinator.wait(timeout)
        except BaseException:
            self._sound = False
            raise

    def cancel(self, key: int) -> None:
        """Gives up on ``key`` (its worker is killed and replaced if it runs it); after an
        interrupt nothing: every worker is about to stop."""
        if not self._sound:
            return
        try:
            self._coordinator.cancel(key)
        except BaseException:
            self._sound = False
            raise

    def interrupt(self) -> None:
        """Ctrl-C stopped the run: the pool's workers stop with it, as a run's own do."""
        self._sound = False

    def clock_offsets(self) -> dict[str, ClockOffset]:
        """Worker name -> its clock's measured offset from this process's."""
        return self._coordinator.clock_offsets()

    def shutdown(self, wait: bool) -> None:
        """The run is over: its own coordinator closes; the pool's is left clean for the
        next run and given back, or, if the run did not leave it sound, stopped."""
        coordinator = self._coordinator
        if not self._pooled:
            coordinator.shutdown(wait)
            return
        sound = self._sound
        try:
            if sound:
                coordinator.shutdown(wait)  # abandons what the run left, gives the turn back
        except BaseException:
            sound = False
            raise
        finally:
            self._pool.give_back(coordinator, sound)
