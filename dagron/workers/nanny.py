"""Starts, watches and stops worker processes: the coordinator's local ones
(:func:`spawn_worker`: forked by the fork server, see :mod:`~dagron.workers.forkserver`, or
spawned as a fresh interpreter) and a worker host's (:class:`WorkerNanny`, behind
``dagron-worker``).

Death is noticed at once: each process has a Linux pidfd that becomes readable when it
exits, and the coordinator polls those alongside its socket. Where pidfds are missing the
coordinator falls back to checking ``Popen.poll()`` whenever it wakes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import psutil

from . import forkserver_client, status_page
from .janitor import Janitor
from .lifeline import popen_lasting
from .nanny_link import CpuWatch, NannyLink
from .process_handle import WorkerProcess
from .start_method import StartMethod
from .status_page import StatusPage

__all__ = [
    "LocalProcess",
    "WorkerNanny",
    "describe_exit",
    "spawn_worker",
    "worker_args",
    "worker_command",
]


log = logging.getLogger("dagron.workers")


@dataclass
class LocalProcess:
    """A worker process this coordinator started."""

    name: str
    popen: WorkerProcess  # a Popen, or a ForkedProcess whose exit code its fork server tells
    pidfd: Optional[int] = None
    identity: Optional[bytes] = None  # its socket identity, once it said hello
    status_file: Optional[str] = None
    killed_for: Optional[str] = None
    _ps: Optional[psutil.Process] = field(default=None, repr=False)
    _page: Optional[StatusPage] = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss(self) -> int:
        """Resident memory in bytes (0 once it is gone)."""
        try:
            if self._ps is None:
                self._ps = psutil.Process(self.pid)
            return int(self._ps.memory_info().rss)
        except psutil.Error:
            return 0

    def cpu_time(self) -> float:
        """User and system CPU seconds used so far (-1.0 once it is gone)."""
        try:
            if self._ps is None:
                self._ps = psutil.Process(self.pid)
            times = self._ps.cpu_times()
        except psutil.Error:
            return -1.0
        return float(times.user + times.system)

    def kill(self) -> None:
        """Kills the worker and everything its tasks started: it leads a process group."""
        if self.popen.poll() is None:
            self.end_group()

    def end_group(self) -> None:
        """Kills what is left of the worker's process group (the processes its tasks
        started), also once the worker itself was reaped: a group whose members live on
        keeps its id, so no other process can have taken it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:  # nothing left in it
            pass

    def reap(self, timeout: float) -> Optional[int]:
        """Waits up to ``timeout`` for the exit; returns the exit code (None if still alive)."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.close_fd()
        return code

    def last_started(self) -> Optional[tuple[int, float]]:
        """The key of the last task the worker began and when, from its status page (None
        if none)."""
        if self.status_file is None:
            return None
        if self._page is None:
            try:
                self._page = StatusPage(self.status_file)
            except (OSError, ValueError):
                return status_page.read_file(self.status_file)
        return self._page.read()

    def close_fd(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self._page is not None:
            self._page.close()
            self._page = None


def describe_exit(code: Optional[int]) -> str:
    """``-9`` -> ``'killed by signal 9 (SIGKILL)'``; ``1`` -> ``'exited with code 1'``."""
    if code is None:
        return "is unresponsive"
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = "unknown"
        return f"was killed by signal {-code} ({sig})"
    return f"exited with code {code}"


def worker_command(address: str, name: str, **options: Any) -> list[str]:
    """The command line of a worker (``python -m dagron.workers.worker``) started by this
    process; ``options`` are :func:`worker_args`'s."""
    return [sys.executable, "-m", "dagron.workers.worker", *worker_args(address, name, **options)]


def worker_args(
    address: str,
    name: str,
    *,
    status_file: Optional[str] = None,
    keys: Optional[str] = None,
    shm_dir: Optional[str] = None,
    death_timeout: Optional[float] = None,
    heartbeat: Optional[float] = None,
    memory_limit: Optional[int] = None,
    log_level: Optional[int] = None,
    identity: Optional[str] = None,
    parent_pid: Optional[int] = None,
) -> list[str]:
    """The arguments of a worker (what follows ``python -m dagron.workers.worker``): it
    watches its parent (``parent_pid``, by default this process), forwards its tasks'
    output, and gets the options given (the worker's defaults for those left None)."""
    cmd = [address, "--name", name]
    cmd += ["--parent-pid", str(os.getpid() if parent_pid is None else parent_pid)]
    if death_timeout is not None:
        cmd += ["--death-timeout", str(death_timeout)]
    if heartbeat is not None:
        cmd += ["--heartbeat", str(heartbeat)]
    if status_file is not None:
        cmd += ["--status-file", status_file]
    if keys is not None:
        cmd += ["--keys", keys]
    if shm_dir is not None:
        cmd += ["--shm-dir", shm_dir]
    if memory_limit is not None:
        cmd += ["--memory-limit", str(memory_limit)]
    cmd += ["--forward-output"]
    if log_level is not None:
        cmd += ["--log-level", str(log_level)]
    if identity is not None:
        cmd += ["--identity", identity]
    return cmd


def spawn_worker(
    address: str,
    name: str,
    status_file: Optional[str] = None,
    keys: Optional[str] = None,
    shm_dir: Optional[str] = None,
    heartbeat: Optional[float] = None,
    start_method: StartMethod = "spawn",
) -> LocalProcess:
    """Starts a worker connected to ``address``, sending a heartbeat every ``heartbeat``
    seconds (None: the worker's default): with ``start_method="forkserver"`` forked by this
    process's fork server, else (or when the fork server cannot) as ``python -m
    dagron.workers.worker``.

    Either way the worker gets this interpreter's ``sys.path`` so it can import what the
    caller can (as multiprocessing's spawn does), runs in its own session (so a terminal's
    Ctrl-C reaches only the coordinator, and killing its process group ends whatever its
    tasks started), and watches its parent (this process, or the fork server, which dies
    with this process) so it leaves when that is gone.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # A task's print() should show up when it happens, not when the worker exits.
    env["PYTHONUNBUFFERED"] = "1"
    if status_file is not None:
        status_page.create(status_file)
    options: dict[str, Any] = dict(
        status_file=status_file,
        keys=keys,
        shm_dir=shm_dir,
        heartbeat=heartbeat,
        log_level=logging.getLogger().getEffectiveLevel(),
    )
    server = forkserver_client.shared() if start_method == "forkserver" else None
    if server is not None:
        try:
            forked, forked_fd = server.fork(
                worker_args(address, name, parent_pid=server.pid, **options), env
            )
            return LocalProcess(name=name, popen=forked, pidfd=forked_fd, status_file=status_file)
        except forkserver_client.ForkUnavailable as exc:
            log.info("fork server unavailable (%s): spawning worker %s", exc, name)
    cmd = worker_command(address, name, **options)
    # From a thread that lasts: the worker dies with the thread that started it (lifeline.py).
    popen = popen_lasting(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    pidfd: Optional[int] = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:
            pidfd = None
    return LocalProcess(name=name, popen=popen, pidfd=pidfd, status_file=status_file)


class WorkerNanny:
    """Keeps ``nprocs`` worker processes connected to a coordinator (``dagron-worker``).

    Restarts a worker that crashes; stops when the coordinator tells the workers to leave,
    when a worker reports the coordinator unreachable for ``death_timeout`` seconds, or on
    SIGTERM/SIGINT (then it stops its workers first). Reconnecting after a dropped
    connection is ZeroMQ's job; the coordinator re-admits a worker it had written off.

    Over a link of its own (:mod:`~dagron.workers.nanny_link`) it vouches, every
    ``heartbeat`` seconds, for its workers that are busy (using CPU time: a task holding
    the GIL silences a worker's own heartbeats), and kills a worker the coordinator gives
    up on (a timed-out task), then starts another. Each worker leads a process group,
    killed with it, so the processes its tasks started end with it. It stops its workers
    itself when the coordinator has not answered its vouches for ``death_timeout`` seconds:
    a worker whose task holds the GIL cannot notice.
    """

    def __init__(
        self,
        address: str,
        nprocs: int = 1,
        *,
        keys: Optional[str] = None,
        name: Optional[str] = None,
        memory_limit: Optional[int] = None,
        death_timeout: float = 60.0,
        heartbeat: float = 1.0,
    ) -> None:
        self.address = address
        self.nprocs = nprocs
        self.keys = keys
        self.name = name or f"{os.uname().nodename}/{os.getpid()}"
        self.memory_limit = memory_limit
        self.death_timeout = death_timeout
        self.heartbeat = heartbeat
        self.procs: dict[int, LocalProcess] = {}
        self.restarts = 0
        self._stopping = False
        self._cpu = CpuWatch()
        self._janitor: Optional[Janitor] = None

    def _start(self, slot: int) -> None:
        identity = b"w" + os.urandom(8).hex().encode()  # told to the worker: vouched for
        name = f"{self.name}/{slot}"
        cmd = worker_command(
            self.address,
            name,
            keys=self.keys,
            death_timeout=self.death_timeout,
            heartbeat=self.heartbeat,
            memory_limit=self.memory_limit,
            identity=identity.decode(),
        )
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # A session of its own: killing its process group ends what its tasks started.
        popen = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self._cpu.started(identity, time.monotonic())
        self.procs[slot] = LocalProcess(name=name, popen=popen, identity=identity)
        if self._janitor is not None:
            self._janitor.watch_group(popen.pid)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Supervises until told to stop; returns the process exit code."""
        from ..errors import SecurityError
        from .security import load_worker_keys

        try:
            keys = load_worker_keys(self.keys) if self.keys is not None else None
        except SecurityError as exc:  # a restart would fail the same way
            print(f"dagron-worker: {exc}", file=sys.stderr, flush=True)
            return 1
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        # Its workers die with it (PDEATHSIG), but what their tasks started would not: the
        # janitor kills their process groups if this process ends without stopping them.
        self._janitor = Janitor()
        code = 0
        try:
            for slot in range(self.nprocs):
                self._start(slot)
            with NannyLink(self.address, self.name, keys) as link:
                code = self._supervise(link)
        finally:
            self.stop()
            self._janitor.close()
        return code

    def _supervise(self, link: NannyLink) -> int:
        next_vouch = time.monotonic() + self.heartbeat
        while not self._stopping and self.procs:
            for worker, reason in link.wait(0.1):
                self._kill(worker, reason)
            if time.monotonic() >= next_vouch:
                next_vouch = time.monotonic() + self.heartbeat
                self._vouch(link)
            code = self._check_exits()
            if code is not None:
                return code
            if time.monotonic() - link.last_heard > self.death_timeout:
                return self._coordinator_gone()  # its workers may be unable to notice
        return 0

    def _coordinator_gone(self) -> int:
        print(
            f"dagron-worker: coordinator {self.address} unreachable for "
            f"{self.death_timeout:g} s; stopping",
            file=sys.stderr,
            flush=True,
        )
        self._stopping = True
        return 1

    def _vouch(self, link: NannyLink) -> None:
        now, is_busy = time.monotonic(), self._cpu.busy
        mine, busy = [], []
        for proc in self.procs.values():
            if proc.identity is None or not proc.alive():
                continue
            mine.append(proc.identity)
            if is_busy(proc.identity, proc.cpu_time(), now):
                busy.append(proc.identity)
        link.vouch(tuple(mine), tuple(busy))

    def _kill(self, worker: bytes, reason: str) -> None:
        for proc in self.procs.values():
            if proc.identity == worker:
                proc.killed_for = reason
                proc.kill()

    def _check_exits(self) -> Optional[int]:
        """Restarts the workers that exited; the exit code to stop with, if one must."""
        from .protocol import EXIT_BAD_CONFIG, EXIT_COORDINATOR_GONE

        for slot, proc in list(self.procs.items()):
            rc = proc.popen.poll()
            if rc is None:
                continue
            del self.procs[slot]
            self._end_group(proc)  # what its tasks started, left behind
            if proc.identity is not None:
                self._cpu.forget(proc.identity)
            if rc == 0 and proc.killed_for is None:
                continue  # told to leave by the coordinator
            if rc == EXIT_COORDINATOR_GONE:
                return self._coordinator_gone()
            if rc == EXIT_BAD_CONFIG:  # it said why; a restart would fail the same way
                self._stopping = True
                return 1
            self.restarts += 1
            why = describe_exit(rc) if proc.killed_for is None else f"killed: {proc.killed_for}"
            print(
                f"dagron-worker: worker {proc.name} {why}; restarting",
                file=sys.stderr,
                flush=True,
            )
            self._start(slot)
        return None

    def stop(self) -> None:
        """Stops the workers (SIGTERM, then SIGKILL after 3 s) and their process groups."""
        for proc in self.procs.values():
            if proc.alive():
                proc.popen.terminate()
        deadline = time.monotonic() + 3.0
        for proc in self.procs.values():
            try:
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
            self._end_group(proc)
        self.procs.clear()

    def _end_group(self, proc: LocalProcess) -> None:
        proc.end_group()
        if self._janitor is not None:
            self._janitor.forget_group(proc.pid)
