"""The process-wide pool of warm local workers behind ``backend="processes"``.

The first run on the processes backend without a cluster starts it; later runs reuse its
workers, and the functions those already loaded, as the runs on a
:class:`~dagron.LocalCluster` do. Modelled on loky's reusable executor:

* One run uses it at a time. A run that finds it in use gets workers of its own for its
  length (:mod:`~dagron.workers.processes_backend`), so runs from several threads never
  wait for each other.
* A run that needs other workers than the pool has gets a new pool, the old one stopped
  first: another size (``max_workers``), another ``memory_limit``, or a change since the
  pool started in what workers take from this process when they start (``sys.path``, the
  working directory, the environment, the root logger's level). A run's ``max_workers`` is
  the number of processes it gets, so a larger pool is not kept for a smaller run; loky
  too rebuilds on a changed size.
* A pool a run could not leave sound (its coordinator raised, Ctrl-C stopped the run) is
  stopped; the next run starts a fresh one.
* It stops after :func:`idle_timeout` seconds without a run, when
  :func:`shutdown_default_pool` is called, and at interpreter exit.
* A process forked from this one never touches the parent's pool; it starts its own.

Who drives the coordinator: ``DefaultPool._lock`` guards which coordinator is the pool's
and whether a run holds it. Only the run holding it drives it. Anyone else (its idle
thread, a shutdown, the exit handler) first takes it out of the pool, under the lock and
while no run holds it, and only then stops it; so nothing drives a coordinator while a run
does.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import threading
import time
from typing import NamedTuple, Optional

from .coordinator import Coordinator
from .status import Status
from .turns import Turns

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_POOL",
    "IDLE_TIMEOUT_ENV",
    "DefaultPool",
    "WorkerSetup",
    "idle_timeout",
    "shutdown_default_pool",
]

#: The environment variable that sets how long the default pool outlives its last run.
IDLE_TIMEOUT_ENV = "DAGRON_POOL_IDLE_TIMEOUT"
#: Seconds the default pool outlives its last run unless ``DAGRON_POOL_IDLE_TIMEOUT`` says
#: otherwise: long enough to span the pauses between the runs of a script or a notebook
#: session, short enough that a process done with them soon stops holding idle
#: interpreters (loky's reusable executor waits as long).
DEFAULT_IDLE_TIMEOUT = 300.0

# How long the exit handler waits for an idle thread already stopping a pool.
_EXIT_JOIN_SECONDS = 10.0


def idle_timeout() -> float:
    """Seconds the default pool stays up without a run: ``DAGRON_POOL_IDLE_TIMEOUT``
    (``0``: its workers stop when each run ends; ``inf``: they stay until exit or
    :func:`shutdown_default_pool`), else :data:`DEFAULT_IDLE_TIMEOUT`. Read at every run's
    start; ``ValueError`` if it is not a number of seconds."""
    text = os.environ.get(IDLE_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # negative, or not a number
        raise ValueError(
            f"{IDLE_TIMEOUT_ENV}={text!r}: expected seconds >= 0 (0 stops the workers after "
            "every run, inf keeps them until exit)"
        )
    return seconds


class WorkerSetup(NamedTuple):
    """What a pool's workers were started with. A run that would start its workers with
    anything else gets a new pool. Besides the size and memory limit, workers take
    ``sys.path``, the working directory, the environment and the root logger's level from
    this process when they start (see :func:`~dagron.workers.nanny.spawn_worker`)."""

    size: int
    memory_limit: Optional[int]
    sys_path: tuple[str, ...]
    cwd: Optional[str]
    environ: dict[str, str]
    log_level: int

    @classmethod
    def now(cls, size: int, memory_limit: Optional[int]) -> WorkerSetup:
        """The setup workers started now would get."""
        try:
            cwd: Optional[str] = os.getcwd()
        except OSError:  # removed since: workers would start there all the same
            cwd = None
        environ = dict(os.environ)
        environ.pop(IDLE_TIMEOUT_ENV, None)  # the pool's own setting, not the workers'
        level = logging.getLogger().getEffectiveLevel()
        return cls(size, memory_limit, tuple(sys.path), cwd, environ, level)


class DefaultPool:
    """A coordinator with warm local workers, lent to one run at a time (see the module's
    docstring). :data:`DEFAULT_POOL` is the one ``backend="processes"`` uses."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # Notified whenever a run returns the coordinator or it leaves the pool.
        self._changed = threading.Condition(self._lock)
        self._coordinator: Optional[Coordinator] = None
        self._setup: Optional[WorkerSetup] = None
        self._leased = False
        self._retire = False  # stop it when the run holding it gives it back
        self._returned_at = 0.0
        self._idle_timeout = DEFAULT_IDLE_TIMEOUT
        # Idle threads stopping a coordinator they took out of the pool, until done.
        self._stopping: set[threading.Thread] = set()

    @property
    def coordinator(self) -> Optional[Coordinator]:
        """The pool's coordinator now (None: no pool; the next run starts one)."""
        return self._coordinator

    def lease(self, size: int, memory_limit: Optional[int]) -> Optional[Coordinator]:
        """The pool's running coordinator for one run, with ``size`` local workers and
        ``memory_limit``, started (or rebuilt) if need be; None if another run holds it.
        The caller gives it back with :meth:`give_back`, whatever happens."""
        timeout = idle_timeout()
        setup = WorkerSetup.now(size, memory_limit)
        if self._pid != os.getpid():  # forked without the at-fork hook having run
            self._forget_inherited()
        with self._lock:
            if self._leased:
                return None
            self._leased, self._idle_timeout = True, timeout
            current = self._coordinator
            if current is not None and current.status is Status.RUNNING and self._setup == setup:
                return current
            self._coordinator = self._setup = None
            self._changed.notify_all()  # its idle thread leaves
        try:
            if current is not None:
                current.close()
            fresh = Coordinator(size, memory_limit=memory_limit, turns=Turns())
            fresh.open()
        except BaseException:
            with self._lock:
                self._leased = self._retire = False
            raise
        idle = threading.Thread(
            target=self._stop_when_idle, args=(fresh,), name="dagron-pool-idle", daemon=True
        )
        with self._lock:
            self._coordinator, self._setup = fresh, setup
        idle.start()
        return fresh

    def give_back(self, coordinator: Coordinator, sound: bool) -> None:
        """The run :meth:`lease` lent ``coordinator`` to is over. It stays for the next run
        if ``sound`` (the run left it clean), else it is stopped; so it is too when the
        idle timeout is 0 or :meth:`shutdown` was asked meanwhile."""
        with self._lock:
            if coordinator is not self._coordinator:
                return  # lent before this process was forked: the parent's, not to touch
            self._leased = False
            stop = not sound or self._retire or self._idle_timeout <= 0
            stop = stop or coordinator.status is not Status.RUNNING
            self._retire = False
            if stop:
                self._coordinator = self._setup = None
            self._returned_at = time.monotonic()
            self._changed.notify_all()
        if stop:
            coordinator.close()

    def shutdown(self) -> None:
        """Stops the pool's workers now; if a run holds it, when that run ends."""
        if self._pid != os.getpid():
            self._forget_inherited()
            return
        with self._lock:
            if self._leased:  # using it, or starting it
                self._retire = True
                return
            coordinator = self._coordinator
            if coordinator is None:
                return
            self._coordinator = self._setup = None
            self._changed.notify_all()
        coordinator.close()

    def close_at_exit(self) -> None:
        """:meth:`shutdown`, then waits a while for an idle thread that is stopping a pool
        (a daemon thread: the interpreter would not wait for it). In a forked child only
        the child's own pool is stopped."""
        if self._pid != os.getpid():
            return
        self.shutdown()
        with self._lock:
            stopping = list(self._stopping)
        for thread in stopping:
            thread.join(_EXIT_JOIN_SECONDS)

    def _stop_when_idle(self, coordinator: Coordinator) -> None:
        """The idle thread of ``coordinator``: stops it once no run has held it for the
        idle timeout; leaves as soon as it is no longer the pool's."""
        if not self._take_when_idle(coordinator):
            return
        try:
            coordinator.close()
        finally:
            with self._lock:
                self._stopping.discard(threading.current_thread())

    def _take_when_idle(self, coordinator: Coordinator) -> bool:
        with self._lock:
            while self._coordinator is coordinator:
                if self._leased:
                    self._changed.wait()
                    continue
                left = self._returned_at + self._idle_timeout - time.monotonic()
                if left <= 0:
                    self._coordinator = self._setup = None
                    self._stopping.add(threading.current_thread())
                    return True
                self._changed.wait(min(left, threading.TIMEOUT_MAX))  # inf: until told
            return False

    def _forget_inherited(self) -> None:
        """In a forked child: the parent's coordinator, sockets and processes are not this
        process's to use or to stop. They are kept referenced, never collected here, so
        that no finalizer of theirs runs in this process."""
        if self._coordinator is not None:
            _inherited.append(self._coordinator)
        self._reset()


# Coordinators a forked child inherited from its parent (see _forget_inherited).
_inherited: list[Coordinator] = []

#: The pool ``backend="processes"`` runs use.
DEFAULT_POOL = DefaultPool()


def shutdown_default_pool() -> None:
    """Stops the worker processes that ``backend="processes"`` runs keep warm between
    runs. The next such run starts new ones. If a run is using them at the moment, they
    stop when it ends. They also stop by themselves after ``DAGRON_POOL_IDLE_TIMEOUT``
    seconds without a run (300 by default; ``0`` stops them after every run) and when the
    interpreter exits, so calling this is needed only to free them sooner.

    >>> import dagron
    >>> dag = dagron.DAG(); dag.add_node("a")
    >>> dagron.DAGExecutor(dag, backend="processes", max_workers=1).execute(
    ...     {"a": lambda: 42})["a"].result
    42
    >>> dagron.shutdown_default_pool()  # its worker stops now rather than when idle
    """
    DEFAULT_POOL.shutdown()


os.register_at_fork(after_in_child=DEFAULT_POOL._forget_inherited)
atexit.register(DEFAULT_POOL.close_at_exit)
