"""The coordinator's local worker processes: starting them, noticing when they end,
replacing them, checking their memory and that they still answer, stopping them.

:class:`LocalPool` never touches the scheduling state: it says what happened to its
processes (a :class:`ProcessExited` record) and the coordinator decides what that means for
their tasks. Exits are noticed through each process's pidfd, which the coordinator polls
alongside its socket (:attr:`LocalPool.exit_fds`); where a pidfd is missing,
:meth:`LocalPool.exited` asks the process itself. A worker over its memory limit, or one
that stopped answering (stopped by a signal, or hung where even its heartbeat thread cannot
run), is killed by :meth:`LocalPool.watch`, and its exit is then reported like any other.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from typing import Callable, NamedTuple, Optional, Sequence

from ..errors import WorkerStartError
from . import forkserver_client
from .janitor import Janitor
from .nanny import LocalProcess, describe_exit, spawn_worker
from .start_method import StartMethod

__all__ = ["MEMORY_CHECK_PERIOD", "LocalPool", "MemoryExceeded", "ProcessExited"]

# How often a memory limit is checked, in seconds.
MEMORY_CHECK_PERIOD = 0.1
# The longest between two checks for silent workers, in seconds.
_SILENCE_CHECK_PERIOD = 1.0
# How long a poll may last, in milliseconds, while a process without a pidfd must be asked.
_UNWATCHED_POLL_MS = 100

_names = itertools.count()  # process-wide, so names stay unique across pools


class ProcessExited(NamedTuple):
    """A local worker process ended; it has been reaped."""

    identity: Optional[bytes]  # its socket identity (None if it never said hello)
    reason: str  # why it ended, for the tasks it took with it
    began: Optional[int]  # the task it last began, from its status page (None if none)


class MemoryExceeded(NamedTuple):
    """A local worker is over the memory limit; it must be written off (and killed)."""

    identity: bytes
    reason: str


_NOTHING: tuple[ProcessExited, ...] = ()


def _start_error(proc: LocalProcess) -> WorkerStartError:
    return WorkerStartError(f"worker {proc.name} {describe_exit(proc.popen.returncode)} at start")


class LocalPool:
    """Keeps ``size`` worker processes connected to ``address``, named ``host/wN``, with
    their status pages in ``private_dir``. ``keys`` is the CURVE key directory they use;
    ``memory_limit`` (bytes) is the most each may hold before :meth:`watch` kills it;
    ``janitor`` is told of every worker's process group, so it can end them if this
    process dies. Workers send a heartbeat every ``heartbeat_period`` seconds; one not heard
    from for ``heartbeat_timeout`` seconds that has used no CPU time since is killed by
    :meth:`watch` (one busy in a long call that holds the GIL is left alone).
    ``start_method`` says how workers start (see :mod:`~dagron.workers.start_method`).

    Each worker leads a process group: a worker killed (a timeout, a cancel) or gone takes
    the processes its tasks started with it."""

    def __init__(
        self,
        size: int,
        address: str,
        private_dir: str,
        *,
        keys: Optional[str] = None,
        memory_limit: Optional[int] = None,
        janitor: Optional[Janitor] = None,
        heartbeat_period: Optional[float] = None,
        heartbeat_timeout: Optional[float] = None,
        start_method: StartMethod = "spawn",
    ) -> None:
        self.size = size
        self.start_method: StartMethod = start_method
        self._holding = False  # holds the fork server up (see forkserver_client.hold)
        if start_method == "forkserver" and size:
            # Its imports overlap the coordinator's setup; workers are forked once it is ready.
            forkserver_client.prestart()
        self.address = address
        self.memory_limit = memory_limit
        self.heartbeat_period = heartbeat_period
        self.heartbeat_timeout = heartbeat_timeout
        self._silence_period = (
            None if heartbeat_timeout is None else min(_SILENCE_CHECK_PERIOD, heartbeat_timeout / 4)
        )
        self._dir = private_dir
        self._keys = keys
        self._janitor = janitor
        self._shm_dir: Optional[str] = None
        self.procs: dict[str, LocalProcess] = {}  # by name
        # By socket identity, once they said hello. Changed in place only: others may hold it.
        self.by_id: dict[bytes, LocalProcess] = {}
        # pidfd -> process: readable when it ends. Rebuilt, and ``version`` bumped, whenever
        # processes come or go, so a poller of these is rebuilt only then.
        self.exit_fds: dict[int, LocalProcess] = {}
        self.version = 0
        # The longest a poll may last for this pool's sake (None: no limit).
        self.wake_ms: Optional[int] = None
        self._unwatched: list[LocalProcess] = []  # processes without a pidfd
        self._next_memory_check = 0.0
        self._next_silence_check = 0.0
        self._next_watch = 0.0  # the sooner of the two checks, or never
        # When each joined worker was last heard from, by identity; and the CPU time of
        # those silent too long, as last read (unchanged at the next check: not answering).
        self._heard: dict[bytes, float] = {}
        self._silent_cpu: dict[bytes, float] = {}
        # Workers that ended before saying hello since one last did: replacing them stops
        # (the start fails) once more did than the pool holds, the sign of a lasting fault.
        self._failed_starts = 0
        self._changed()

    # ----- starting ------------------------------------------------------------------------

    def start(self, shm_dir: Optional[str] = None) -> None:
        """Starts the workers; ``shm_dir`` is where they put shared-memory results."""
        if self.start_method == "forkserver" and self.size and not self._holding:
            forkserver_client.hold()  # until close(): replacements are forked too
            self._holding = True
        self._shm_dir = shm_dir
        self._fill()

    def check_start(self) -> None:
        """Raises :class:`WorkerStartError` if a worker ended before it said hello."""
        for proc in list(self.procs.values()):
            if proc.identity is None and not proc.alive():
                raise _start_error(proc)

    def joined(self, name: str, pid: int, identity: bytes) -> bool:
        """A hello from ``name``: True (and its identity noted) if it is one of ours."""
        proc = self.procs.get(name)
        if proc is not None and proc.pid == pid:
            proc.identity = identity
            self.by_id[identity] = proc
            self._heard[identity] = time.monotonic()
            self._failed_starts = 0
            return True
        return False

    def starting(self) -> int:
        """How many of its workers have not said hello yet."""
        return len(self.procs) - len(self.by_id)

    def _fill(self) -> None:
        while len(self.procs) < self.size:
            self._spawn()
        self._changed()

    def _spawn(self) -> LocalProcess:
        n = next(_names)
        name = f"{os.uname().nodename}/w{n}"
        status = os.path.join(self._dir, f"w{n}.status")
        proc = spawn_worker(
            self.address,
            name,
            status,
            keys=self._keys,
            shm_dir=self._shm_dir,
            heartbeat=self.heartbeat_period,
            start_method=self.start_method,
        )
        self.procs[name] = proc
        if self._janitor is not None:
            self._janitor.watch_group(proc.pid)
        return proc

    def _ended(self, proc: LocalProcess) -> None:
        """``proc`` was reaped: end what its tasks left running, forget its group."""
        proc.end_group()
        if self._janitor is not None:
            self._janitor.forget_group(proc.pid)

    def _changed(self) -> None:
        self.exit_fds = {p.pidfd: p for p in self.procs.values() if p.pidfd is not None}
        self._unwatched = [p for p in self.procs.values() if p.pidfd is None]
        self.version += 1
        wake = None if self.memory_limit is None else int(MEMORY_CHECK_PERIOD * 1000)
        if self._silence_period is not None:
            silence = int(self._silence_period * 1000)
            wake = silence if wake is None else min(wake, silence)
        if self._unwatched:
            wake = _UNWATCHED_POLL_MS if wake is None else min(wake, _UNWATCHED_POLL_MS)
        self.wake_ms = wake

    # ----- watching ------------------------------------------------------------------------

    def exited(self, events: dict[int, int], replace: bool) -> Sequence[ProcessExited]:
        """The processes that ended, given a poll's ``events`` (fd -> event): reaped and
        forgotten, and with ``replace`` replaced (the newcomers join when they say hello).
        Raises :class:`WorkerStartError` instead of replacing once more workers than the
        pool holds ended before saying hello, with none saying it in between."""
        found = [proc for fd, proc in self.exit_fds.items() if fd in events]
        for proc in self._unwatched:
            if not proc.alive():
                found.append(proc)
        if not found:
            return _NOTHING
        out = [self._forget(proc) for proc in found]
        never_joined = [proc for proc in found if proc.identity is None]
        self._failed_starts += len(never_joined)
        if replace and never_joined and self._failed_starts > self.size:
            self._changed()
            raise _start_error(never_joined[-1])
        if replace:
            self._fill()
        else:
            self._changed()
        return out

    def _forget(self, proc: LocalProcess) -> ProcessExited:
        code = proc.reap(1.0)
        self._ended(proc)
        self.procs.pop(proc.name, None)
        reason = proc.killed_for or f"worker {proc.name} (pid {proc.pid}) {describe_exit(code)}"
        began = None
        if proc.identity is not None:
            self.by_id.pop(proc.identity, None)
            self._heard.pop(proc.identity, None)
            self._silent_cpu.pop(proc.identity, None)
            # It may have begun this task with its STARTED notice dying with it.
            last = proc.last_started()
            began = last[0] if last is not None else None
        if proc.status_file is not None:
            with contextlib.suppress(OSError):
                os.remove(proc.status_file)
        return ProcessExited(proc.identity, reason, began)

    def begun(self) -> list[tuple[bytes, int, float]]:
        """``(identity, key, started)`` of the task each joined worker began last, read from
        their status pages (see :mod:`~dagron.workers.status_page`)."""
        out = []
        for identity, proc in self.by_id.items():
            last = proc.last_started()
            if last is not None:
                out.append((identity, *last))
        return out

    def heard_from(self, identity: bytes, now: float) -> None:
        """A heartbeat from the worker ``identity`` at ``now`` (ignored if not ours)."""
        if identity in self._heard:
            self._heard[identity] = now
            if self._silent_cpu:
                self._silent_cpu.pop(identity, None)

    def watch(self) -> Sequence[MemoryExceeded]:
        """Kills the workers over the memory limit (checked every MEMORY_CHECK_PERIOD
        seconds) or not answering (see the class); their exits give the reason. Returns
        those found over the limit, each once. Called at every poll: cheap when nothing is
        due."""
        now = time.monotonic()
        if now < self._next_watch:
            return ()
        if self._silence_period is not None and now >= self._next_silence_check:
            self._next_silence_check = now + self._silence_period
            self._kill_silent(now)
        over = self.over_memory(now)
        due = [self._next_silence_check] if self._silence_period is not None else []
        if self.memory_limit is not None:
            due.append(self._next_memory_check)
        self._next_watch = min(due, default=float("inf"))
        return over

    def over_memory(self, now: float) -> list[MemoryExceeded]:
        """Kills the workers found over the memory limit (checked at most every
        MEMORY_CHECK_PERIOD seconds) and reports each once; their exits give the reason."""
        if now < self._next_memory_check or self.memory_limit is None:
            return []
        self._next_memory_check = now + MEMORY_CHECK_PERIOD
        out = []
        for proc in list(self.procs.values()):
            rss = proc.rss()
            if rss > self.memory_limit and proc.identity is not None and proc.killed_for is None:
                reason = (
                    f"worker {proc.name} (pid {proc.pid}) used {rss / 2**20:.0f} MiB, over its "
                    f"memory limit of {self.memory_limit / 2**20:.0f} MiB, and was restarted"
                )
                proc.killed_for = reason
                proc.kill()
                out.append(MemoryExceeded(proc.identity, reason))
        return out

    def _kill_silent(self, now: float) -> None:
        timeout = self.heartbeat_timeout
        assert timeout is not None
        for identity, heard in self._heard.items():
            silence = now - heard
            if silence <= timeout / 2:
                continue
            proc = self.by_id[identity]
            if proc.killed_for is not None:
                continue
            # Its CPU time is read from half the timeout on, so that at the timeout it can be
            # told at once whether it ran meanwhile.
            cpu, seen = proc.cpu_time(), self._silent_cpu.get(identity)
            if silence <= timeout or seen != cpu:
                self._silent_cpu[identity] = cpu  # busy, or not silent long enough yet
                continue
            proc.killed_for = (
                f"worker {proc.name} (pid {proc.pid}) stopped answering: no heartbeat for "
                f"{silence:.0f} s and no CPU time used meanwhile (stopped or hung); it was "
                "killed and replaced"
            )
            proc.kill()

    # ----- stopping ------------------------------------------------------------------------

    def set_exit_reason(self, identity: bytes, reason: str) -> None:
        """``reason`` is what the worker's exit will report (it is being stopped for it)."""
        proc = self.by_id.get(identity)
        if proc is not None:
            proc.killed_for = reason

    def kill(self, identity: bytes, reason: str) -> None:
        """Kills the worker; its exit reports ``reason`` unless it already had one."""
        proc = self.by_id.get(identity)
        if proc is not None:
            proc.killed_for = proc.killed_for or reason
            proc.kill()

    def kill_busy(self, busy: Callable[[bytes], bool]) -> None:
        """Kills the workers for which ``busy(identity)`` holds: one in the middle of a task
        cannot read a request to leave."""
        for proc in self.procs.values():
            if proc.identity is not None and busy(proc.identity):
                proc.kill()

    def close(self) -> None:
        """Waits up to 2 s in all for the workers to leave, kills those that do not (and at
        once those that never said hello: nobody could tell them to leave)."""
        for proc in self.procs.values():
            if proc.identity is None:
                proc.kill()
        deadline = time.monotonic() + 2.0
        for proc in self.procs.values():
            if proc.reap(max(0.0, deadline - time.monotonic())) is None:
                proc.kill()
                proc.reap(5.0)
            self._ended(proc)
            proc.close_fd()
        self.procs.clear()
        self.by_id.clear()
        self._changed()
        if self._holding:  # its workers are gone: the fork server may stop
            self._holding = False
            forkserver_client.let_go()
