"""The threads backend: node calls run on daemon threads of this process.

Good for I/O-bound tasks and for anything that releases the GIL. A thread cannot be killed:
a cancelled or timed-out call keeps running in the background until it returns; this backend
replaces its thread at once, so the run keeps its parallelism, and the stray thread exits when
its call returns. Threads are daemons, so a stuck call never blocks interpreter exit.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from queue import Empty, SimpleQueue
from traceback import format_exc
from typing import Any, Callable, Optional

from .. import _clock
from .base import Completion

__all__ = ["ThreadsBackend"]

_Item = Optional[tuple[int, Callable[..., Any], tuple[Any, ...]]]

_thread_ids = iter(range(1 << 62))


class ThreadsBackend:
    """Backend running each node call on a pool of daemon threads started on demand.

    >>> b = ThreadsBackend(); b.start(2)
    >>> b.submit(7, pow, (2, 10)); c = b.wait(5.0)[0]
    >>> c[0], c[1], c[2]
    (7, True, 1024)
    >>> b.shutdown(wait=True)
    """

    name = "threads"

    def __init__(self) -> None:
        self._inbox: SimpleQueue[_Item] = SimpleQueue()
        self._outbox: SimpleQueue[Completion] = SimpleQueue()
        # Keys given up on. Shared with the workers: a worker whose key is in here drops its
        # completion and exits, because a replacement thread already took its place.
        self._abandoned: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._usable = 0  # threads not stuck in an abandoned call
        self._outstanding = 0  # submitted, not yet reported back, not abandoned
        self._max_workers = 1
        self.capacity = 1
        self._host = f"{socket.gethostname()}/{os.getpid()}"

    def start(self, max_workers: int) -> None:
        self._max_workers = max_workers
        self.capacity = max_workers  # no prefetch: a submitted call starts at once

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        # Threads start lazily: a chain needs one however large max_workers is.
        if self._outstanding >= self._usable and self._usable < self._max_workers:
            self._spawn()
        self._outstanding += 1
        self._inbox.put((key, fn, args))

    def wait(self, timeout: float | None) -> list[Completion]:
        q = self._outbox
        try:
            first = q.get(True, timeout) if timeout is None or timeout > 0 else q.get_nowait()
        except Empty:
            return []
        out = [first]
        while not q.empty():  # only this thread reads the queue, so empty() is reliable here
            out.append(q.get_nowait())
        self._outstanding -= len(out)
        return out

    def run_inline(self, key: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Completion:
        """Run one call on the calling thread and return its completion (no thread switch).

        The loop uses this only when the node is the one thing that can run at that moment,
        so no parallelism is lost. ``KeyboardInterrupt`` propagates (it stops the run).
        """
        started = _clock.now()
        t0 = time.perf_counter()
        try:
            value = fn(*args)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            took = time.perf_counter() - t0
            return (key, False, exc, format_exc(), started, _clock.now(), took, self._here())  # type: ignore[return-value]
        took = time.perf_counter() - t0
        return (key, True, value, None, started, _clock.now(), took, self._here())  # type: ignore[return-value]

    def _here(self) -> str:
        return f"{self._host}/{threading.current_thread().name}"

    def cancel(self, key: int) -> None:
        self._abandoned.add(key)
        # Its thread no longer counts; the next submit() starts a replacement if needed.
        self._outstanding -= 1
        self._usable -= 1

    def shutdown(self, wait: bool) -> None:
        for _ in self._threads:
            self._inbox.put(None)
        if wait:
            me = threading.current_thread()
            for t in self._threads:
                if t is not me:
                    t.join()
        self._threads = []

    def _spawn(self) -> None:
        t = threading.Thread(
            target=self._work,
            name=f"dagron-worker-{next(_thread_ids)}",
            daemon=True,
        )
        self._threads.append(t)
        self._usable += 1
        t.start()

    def _work(self) -> None:
        get, put, abandoned = self._inbox.get, self._outbox.put, self._abandoned
        clock, perf = _clock.now, time.perf_counter
        worker = f"{self._host}/{threading.current_thread().name}"
        while True:
            item = get()
            if item is None:
                return
            key, fn, args = item
            item = None
            if key in abandoned:  # cancelled before it began: do not run it at all
                abandoned.discard(key)
                return
            started = clock()
            t0 = perf()
            try:
                value = fn(*args)
            except BaseException as exc:  # a task's SystemExit must not kill the worker silently
                done = perf() - t0
                report: Completion = (key, False, exc, format_exc(), started, clock(), done, worker)  # type: ignore[assignment]
                del exc
            else:
                done = perf() - t0
                report = (key, True, value, None, started, clock(), done, worker)  # type: ignore[assignment]
                del value
            if key in abandoned:
                # The loop gave up on this call and started a replacement thread: go away.
                abandoned.discard(key)
                return
            put(report)
            del report, fn, args
