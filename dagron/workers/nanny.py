"""Starts, watches and stops local worker processes.

Death is noticed at once: each process has a Linux pidfd that becomes readable when it
exits, and the coordinator polls those alongside its socket. Where pidfds are missing the
coordinator falls back to checking ``Popen.poll()`` whenever it wakes.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Optional

import psutil

__all__ = ["LocalProcess", "describe_exit", "spawn_worker"]


@dataclass
class LocalProcess:
    """A worker process this coordinator started."""

    name: str
    popen: subprocess.Popen[bytes]
    pidfd: Optional[int] = None
    identity: Optional[bytes] = None  # its socket identity, once it said hello
    status_file: Optional[str] = None
    killed_for: Optional[str] = None
    _ps: Optional[psutil.Process] = field(default=None, repr=False)

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

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self, timeout: float) -> Optional[int]:
        """Waits up to ``timeout`` for the exit; returns the exit code (None if still alive)."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.close_fd()
        return code

    def last_started(self) -> Optional[int]:
        """The key of the last task the worker began, from its status page (None if none)."""
        if self.status_file is None:
            return None
        try:
            with open(self.status_file, "rb") as f:
                (key,) = struct.unpack("<q", f.read(8))
        except (OSError, struct.error):
            return None
        return key if key >= 0 else None

    def close_fd(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


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


def spawn_worker(address: str, name: str, status_file: Optional[str] = None) -> LocalProcess:
    """Starts ``python -m dagron.workers.worker`` connected to ``address``.

    The child gets this interpreter's ``sys.path`` so it can import what the caller can (as
    multiprocessing's spawn does), runs in its own session so a terminal's Ctrl-C reaches
    only the coordinator, and watches this process so it leaves when we are gone.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # A task's print() should show up when it happens, not when the worker exits.
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "dagron.workers.worker",
        address,
        "--name",
        name,
        "--parent-pid",
        str(os.getpid()),
    ]
    if status_file is not None:
        with open(status_file, "wb") as f:
            f.write(struct.pack("<q", -1))
        cmd += ["--status-file", status_file]
    popen = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    pidfd: Optional[int] = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:
            pidfd = None
    return LocalProcess(name=name, popen=popen, pidfd=pidfd, status_file=status_file)
