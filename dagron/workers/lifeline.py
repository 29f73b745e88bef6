"""Ties a local worker's life to the process that started it.

A worker leaves when its parent is gone. A watcher thread (see worker_heartbeat.py) cannot
notice that while a task holds the worker's GIL in one long C call, so on Linux the worker
also asks the kernel to SIGKILL it when its parent dies (:func:`die_with_parent`), the first
thing it does.

The kernel ties that signal to the *thread* that started the child, not to the process: a
worker started by a thread that then ends would be killed although its coordinator lives
on. So workers are started from the main thread, or else from one thread kept for the
process's whole life (:func:`popen_lasting`).
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any, Optional

__all__ = ["die_with_parent", "popen_lasting"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Asks the kernel to SIGKILL this process when its parent (``parent_pid``) ends, on
    Linux; elsewhere does nothing and returns False. Exits at once if the parent is gone
    already (it may have died before the request was made)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:
        os._exit(3)  # protocol.EXIT_PARENT_GONE; this runs before the worker imports it
    return True


_Job = tuple[list[str], dict[str, Any], "Future[subprocess.Popen[bytes]]"]
_jobs: Optional[queue.SimpleQueue[_Job]] = None
_jobs_lock = threading.Lock()


def popen_lasting(cmd: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(cmd, **options)``, started from a thread that lasts as long as
    this process: this one if it is the main thread, else a daemon thread kept for it."""
    if threading.current_thread() is threading.main_thread():
        return _popen(cmd, options)
    done: Future[subprocess.Popen[bytes]] = Future()
    _spawner().put((cmd, options, done))
    return done.result()


def _spawner() -> queue.SimpleQueue[_Job]:
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = queue.SimpleQueue()
            threading.Thread(
                target=_spawn_forever, args=(_jobs,), name="dagron-spawner", daemon=True
            ).start()
        return _jobs


def _popen(cmd: list[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, **options)  # binary pipes: no text options are passed


def _forget_spawner() -> None:
    # A forked child has the queue but not the thread that served it.
    global _jobs
    _jobs = None


os.register_at_fork(after_in_child=_forget_spawner)


def _spawn_forever(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        cmd, options, done = jobs.get()
        try:
            done.set_result(_popen(cmd, options))
        except BaseException as exc:
            done.set_exception(exc)
