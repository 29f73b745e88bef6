"""This process's side of the fork server (:mod:`~dagron.workers.forkserver`): starting it,
asking it for workers, and learning how they ended.

One fork server serves the whole process (:func:`shared`), every coordinator in it: a run
that makes its own coordinator (``DAGExecutor(backend="processes")``) then pays for the
worker engine's imports once per process rather than once per run. It is started as a
fresh interpreter, from a thread that lasts (:func:`~dagron.workers.lifeline.popen_lasting`),
so it dies with this process (``PR_SET_PDEATHSIG``), and its workers die with it. A fork
server that dies is replaced at the next request (a few times per process at most); the
request that found it gone is told so (:class:`ForkUnavailable`) and its caller spawns the
worker instead. It stops when the last pool of workers it forks closes (:func:`let_go`).

A forked worker is not this process's child: :class:`ForkedProcess` stands in for its
``Popen``, its exit code coming from the fork server over the socket.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Optional

from . import forkserver_codec as fc
from .lifeline import popen_lasting

__all__ = [
    "ForkServer",
    "ForkUnavailable",
    "ForkedProcess",
    "hold",
    "let_go",
    "prestart",
    "shared",
]

# How long a fork request may wait for its answer: the fork server's first request waits
# for its imports (a tenth of a second; more on a loaded machine).
REPLY_TIMEOUT = 30.0
# The most fork servers one process starts: one that keeps dying is given up on.
MAX_STARTS = 4
_MAX_REPLY = 1 << 16


class ForkUnavailable(Exception):
    """The fork server could not start this worker (it is gone, or the fork failed): spawn
    it instead."""


class ForkServer:
    """One fork server process and the socket pair to it; see the module's docstring."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # It imports dagron from where this process does.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        cmd = [sys.executable, "-m", "dagron.workers.forkserver", str(theirs.fileno())]
        cmd += ["--parent-pid", str(os.getpid())]
        try:
            self._proc = popen_lasting(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C is the coordinator's
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self.pid = self._proc.pid
        self.alive = True
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}  # exit codes told but not yet asked for, by pid

    def fork(self, argv: list[str], env: dict[str, str]) -> tuple[ForkedProcess, Optional[int]]:
        """A worker running with ``argv`` (the arguments of ``python -m
        dagron.workers.worker``) and ``env``, in this process's working directory, with its
        ``sys.path``, stdout and stderr; and its pidfd (None if none came). Raises
        :class:`ForkUnavailable` if there is none."""
        request = fc.ForkRequest(argv, env, os.getcwd(), list(sys.path))
        with self._lock:
            if not self.alive:
                raise ForkUnavailable("the fork server is gone")
            try:
                socket.send_fds(self._sock, [fc.encode_request(request)], [1, 2])
            except OSError as exc:
                if exc.errno == errno.EBADF:  # our stdout or stderr is closed
                    raise ForkUnavailable(str(exc)) from None
                self._gone()
                raise ForkUnavailable(f"the fork server is gone: {exc}") from None
            deadline = time.monotonic() + REPLY_TIMEOUT
            while True:
                got = self._receive(deadline)
                if got is None:  # hung: it must not fork that worker later, unknown to us
                    self._gone()
                    raise ForkUnavailable("the fork server did not answer")
                reply, fds = got
                if not isinstance(reply, fc.Exited):
                    break
                self._exits[reply.pid] = reply.code
        if isinstance(reply, fc.ForkFailed):
            _close(fds)
            raise ForkUnavailable(reply.error)
        return ForkedProcess(self, reply.pid), (fds[0] if fds else None)

    def exit_code(self, pid: int, timeout: Optional[float]) -> Optional[int]:
        """How worker ``pid`` ended, waiting up to ``timeout`` seconds for the fork server to
        say (None: still running). One whose fork server is gone was killed with it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while pid not in self._exits:
                if not self.alive:
                    return _gone_with_server(pid, deadline)
                got = self._receive(deadline)
                if got is None:
                    return None
                reply, fds = got
                _close(fds)
                if isinstance(reply, fc.Exited):
                    self._exits[reply.pid] = reply.code
            return self._exits.pop(pid)

    def _receive(self, deadline: Optional[float]) -> Optional[tuple[fc.Reply, list[int]]]:
        """The next message (None once ``deadline`` passed); marks the server gone, and
        raises nothing, when its socket ends: the caller then sees ``alive`` False."""
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([self._sock], [], [], left)[0]:
            return None
        try:
            data, fds, _, _ = socket.recv_fds(self._sock, _MAX_REPLY, 1)
        except OSError:
            data, fds = b"", []
        if not data:
            self._gone()
            return fc.ForkFailed("the fork server is gone"), fds
        try:
            return fc.decode_reply(data), fds
        except ValueError as exc:
            return fc.ForkFailed(str(exc)), fds

    def _gone(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self._sock.close()
        if self._proc.poll() is None:
            self._proc.kill()  # its workers die with it (PR_SET_PDEATHSIG)
        self._proc.wait()

    def close(self) -> None:
        """Stops the fork server (its workers die with it)."""
        with self._lock:
            self._gone()


class ForkedProcess:
    """A worker forked by a :class:`ForkServer`, standing in for its ``Popen``."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.pid = pid
        self.returncode: Optional[int] = None
        self._server = server

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, 0.0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def _gone_with_server(pid: int, deadline: Optional[float]) -> Optional[int]:
    """A worker outliving its fork server is being killed (PR_SET_PDEATHSIG): ``-SIGKILL``
    once it is gone, None if it is still there at ``deadline``."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -int(signal.SIGKILL)
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


_shared: Optional[ForkServer] = None
_starts = 0  # fork servers started and not closed on purpose: those that died count
_holders = 0  # pools whose workers it forks (see hold)
_shared_lock = threading.Lock()
_inherited: list[ForkServer] = []  # a forked child's copies, kept from being collected


def shared() -> Optional[ForkServer]:
    """This process's fork server, started if there is none alive (None once
    :data:`MAX_STARTS` were started, or if it cannot be)."""
    global _shared, _starts
    with _shared_lock:
        if _shared is not None and _shared.alive:
            return _shared
        if _starts >= MAX_STARTS:
            return None
        _starts += 1
        try:
            _shared = ForkServer()
        except OSError:
            _shared = None
        return _shared


def prestart() -> None:
    """Starts this process's fork server now, if it is not running, so that its imports
    overlap whatever the caller does before it asks for workers."""
    shared()


def hold() -> None:
    """A pool of workers forked by the fork server starts: the fork server stays up (or
    is started, as by :func:`prestart`) until every pool holding it has let go."""
    global _holders
    with _shared_lock:
        _holders += 1
    prestart()


def let_go() -> None:
    """A pool that called :func:`hold` is closed (its workers are gone): the last one to
    let go stops the fork server, so that no process outlives the workers it is for. The
    next pool starts another."""
    global _holders, _shared, _starts
    with _shared_lock:
        _holders = max(0, _holders - 1)
        server = _shared
        if _holders or server is None:
            return
        _shared = None
        if server.alive:
            _starts -= 1  # closed on purpose: not one of those that died
    server.close()


def _forget_in_child() -> None:
    # A forked child must not talk over its parent's socket: it starts its own if it must.
    global _shared, _starts, _holders, _shared_lock
    if _shared is not None:
        _inherited.append(_shared)
    _shared, _starts, _holders, _shared_lock = None, 0, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
