"""Test helpers: real coordinators and worker processes that are always torn down.

>>> from dagron.workers.testing import running_coordinator
>>> with running_coordinator(n_workers=1) as c:
...     c.submit(1, abs, (-3,), "n")
...     done = collect(c, {1})
>>> done[1][2].load()
3
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import psutil

from ..backends.base import Started
from . import shm
from .coordinator import Coordinator

__all__ = [
    "allocate_at_once",
    "collect",
    "hog_memory",
    "live_fork_servers",
    "live_worker_pids",
    "running_coordinator",
    "segment_dirs",
    "wait_for_gone",
    "wait_for_no_segment_dirs",
    "wait_for_no_workers",
]


def hog_memory(mib: int = 2000, seconds: float = 30.0) -> None:
    """A task for memory-limit tests: holds ``mib`` MiB, then sleeps ``seconds``."""
    held = [bytearray(2**20) for _ in range(mib)]
    time.sleep(seconds)
    del held


def allocate_at_once(mib: int = 2048, seconds: float = 30.0) -> int:
    """A task for memory-limit tests: one allocation of ``mib`` MiB (one C call that holds
    the GIL while it fills the memory), then a sleep of ``seconds``."""
    held = bytearray(mib * 2**20)
    time.sleep(seconds)
    return len(held)


@contextmanager
def running_coordinator(n_workers: int = 2, **options: Any) -> Iterator[Coordinator]:
    """A started :class:`Coordinator` with ``n_workers`` local workers, all joined, closed on
    exit whatever happens inside."""
    coordinator = Coordinator(n_workers, **options)
    try:
        coordinator.open()
        coordinator.wait_for_workers(n_workers, coordinator.start_timeout)
        yield coordinator
    finally:
        coordinator.close()


def collect(coordinator: Coordinator, keys: set[int], timeout: float = 60.0) -> dict[int, Any]:
    """Final reports (:class:`~dagron.backends.base.Succeeded` or ``Failed``, not started
    notices) for every key in ``keys``. Typed ``Any`` so tests read ``.value``/``.error``."""
    out: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while not keys <= out.keys():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no completion for {sorted(keys - out.keys())} in {timeout} s")
        for c in coordinator.wait(left):
            if type(c) is not Started:
                out[c[0]] = c
    return out


def live_worker_pids(parent: Optional[int] = None) -> list[int]:
    """Pids of dagron worker processes that are descendants of ``parent`` (default: us):
    spawned ones, and those forked by a fork server (which is not counted itself)."""
    me = psutil.Process(parent or os.getpid())
    pids = []
    for child in me.children(recursive=True):
        try:
            if _is_worker(child) and child.status() != psutil.STATUS_ZOMBIE:
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


def live_fork_servers(parent: Optional[int] = None) -> list[int]:
    """Pids of fork servers that are descendants of ``parent`` (default: us)."""
    me = psutil.Process(parent or os.getpid())
    pids = []
    for child in me.children(recursive=True):
        try:
            if _FORKSERVER in " ".join(child.cmdline()) and not _is_worker(child):
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


_FORKSERVER = "dagron.workers.forkserver"


def _is_worker(proc: psutil.Process) -> bool:
    if "dagron.workers.worker" in " ".join(proc.cmdline()):
        return True
    parent = proc.parent()  # a fork of a fork server runs a worker under its command line
    return parent is not None and _FORKSERVER in " ".join(parent.cmdline())


def wait_for_no_workers(parent: Optional[int] = None, timeout: float = 10.0) -> list[int]:
    """Waits until no worker process of ours is left; returns the pids still alive."""
    deadline = time.monotonic() + timeout
    while True:
        left = live_worker_pids(parent)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_for_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Waits until none of ``pids`` is alive (zombies count as gone); returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if _alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


_SEGMENT_DIR = re.compile(r"dagron-([0-9]+)-")


def segment_dirs(owner: Optional[int] = None) -> set[str]:
    """Shared-memory segment directories (see shm.py) of the coordinator process ``owner``
    (default: this one). Only its own: tests in other processes make and remove theirs
    meanwhile."""
    root = shm.shm_root()
    if root is None:
        return set()
    pid = os.getpid() if owner is None else owner
    out = set()
    for name in os.listdir(root):
        found = _SEGMENT_DIR.match(name)
        if found is not None and int(found.group(1)) == pid:
            out.add(os.path.join(root, name))
    return out


def wait_for_no_segment_dirs(
    before: set[str], timeout: float = 10.0, owner: Optional[int] = None
) -> set[str]:
    """Waits until no segment directory of ``owner`` (default: this process) but those in
    ``before`` is left (a crashed coordinator's is removed by its janitor); returns the
    ones still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = segment_dirs(owner) - before
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
