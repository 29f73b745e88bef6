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
from typing import Any, Callable, Optional, Sequence

from .. import _clock
from .base import Backend, Call, Capabilities, Completion, Failed, Started, Succeeded

__all__ = ["ThreadsBackend"]

_Item = Optional[Call]

_thread_ids = iter(range(1 << 62))
_new = tuple.__new__  # builds a report without a named tuple's keyword handling

# Queue-ahead: calls are handed out before a worker thread is free, so a worker finishing a
# call takes the next at once instead of sleeping until the loop hands it one (a thread
# wake-up costs 10-100 us, more than a short call). How many: about QUEUE_SECONDS of work
# per worker at the mean duration of recent calls, between 1 (no queue: long calls, and until
# a duration is known) and MAX_AHEAD. A newly ready node can so wait behind at most about
# QUEUE_SECONDS of queued work per worker, whatever its critical-path priority.
QUEUE_SECONDS = 0.002
MAX_AHEAD = 16


class ThreadsBackend(Backend):
    """Backend running each node call on a pool of daemon threads started on demand.

    ``queue_ahead`` fixes how many calls per worker thread are handed out at once (the one
    running included); by default it adapts to how long calls take (see ``QUEUE_SECONDS``).

    >>> b = ThreadsBackend(); b.start(2)
    >>> b.submit(7, pow, (2, 10)); reports = b.wait(5.0)
    >>> while isinstance(reports[-1], Started): reports += b.wait(5.0)
    >>> [type(r).__name__ for r in reports], reports[-1].value
    (['Started', 'Succeeded'], 1024)
    >>> b.shutdown(wait=True)
    """

    name = "threads"
    capabilities = Capabilities(
        queues_ahead=True,
        adaptive_capacity=True,
        withdraw=True,
        holds_after_failure=True,
        watches_cancel=True,
        quiet_starts=True,
        submit_many=True,
        run_inline=True,
    )

    def __init__(self, queue_ahead: int | None = None) -> None:
        if queue_ahead is not None and queue_ahead < 1:
            raise ValueError(f"queue_ahead must be >= 1, not {queue_ahead!r}")
        self._inbox: SimpleQueue[_Item] = SimpleQueue()
        self._outbox: SimpleQueue[Completion] = SimpleQueue()
        # Keys given up on. Shared with the workers: a worker whose key is in here drops its
        # completion and exits, because a replacement thread already took its place.
        self._abandoned: set[int] = set()
        # Keys queued and not begun. A worker claims a key by removing it before the call and
        # the loop withdraws one the same way (withdraw()): one atomic set.remove decides, so
        # a queued call is either run or withdrawn, never both and never neither.
        self._queued: set[int] = set()
        # Cleared by a worker whose call failed, before it reports: workers begin no queued
        # call until the loop has seen the failure and calls resume(), so fail-fast starts
        # nothing after a failure. A set cancel_event (watch_cancel) stops them for good.
        self._go = threading.Event()
        self._go.set()
        # Orders a worker's "report the failure, then hold" against resume()'s "nothing left
        # to report, so release": a failure reported while resume() runs stays held.
        self._hold_lock = threading.Lock()
        self._cancel: threading.Event | None = None
        self._threads: list[threading.Thread] = []
        self._usable = 0  # threads not stuck in an abandoned call
        self._outstanding = 0  # submitted, not yet reported back, not withdrawn or abandoned
        self._max_workers = 1
        self._ahead = queue_ahead
        self._mean: float | None = None
        self.capacity = 1
        self._notify = True  # send Started reports (off: skip_started_notices)
        self._host = f"{socket.gethostname()}/{os.getpid()}"
        self._inline_thread = 0
        self._inline_name = ""

    def start(self, max_workers: int) -> None:
        self._max_workers = max_workers
        self.slots = max_workers
        self.capacity = max_workers * (self._ahead or 1)

    def skip_started_notices(self) -> None:
        """Send no :class:`Started` reports (the run needs none)."""
        self._notify = False

    def watch_cancel(self, event: threading.Event) -> None:
        """Begin no queued call once ``event`` is set (the run's ``cancel_event``)."""
        self._cancel = event

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        # Threads start lazily: a chain needs one however large max_workers is.
        if self._outstanding >= self._usable and self._usable < self._max_workers:
            self._spawn()
        self._outstanding += 1
        self._queued.add(key)
        self._inbox.put((key, fn, args))

    def submit_many(self, items: Sequence[Call]) -> None:
        """:meth:`submit` for each ``(key, fn, args)`` of ``items``, in order, in one call."""
        # As many threads as submit() one by one would have started.
        want = min(self._max_workers, self._outstanding + len(items))
        while self._usable < want:
            self._spawn()
        self._outstanding += len(items)
        self._queued.update([item[0] for item in items])
        put = self._inbox.put
        for item in items:
            put(item)

    def wait(self, timeout: float | None) -> list[Completion]:
        if self._queued and self._outstanding > self._usable < self._max_workers:
            # Calls queued behind an abandoned one: nothing else may come to start a thread
            # for them. (Not in cancel(): a run being cancelled withdraws them next.)
            self._spawn()
        q = self._outbox
        try:
            first = q.get(True, timeout) if timeout is None or timeout > 0 else q.get_nowait()
        except Empty:
            return []
        out = [first]
        more, keep = q.get_nowait, out.append
        try:
            while True:
                keep(more())
        except Empty:
            pass
        # Started notices are not completions; count them without a loop in Python.
        self._outstanding -= len(out) - list(map(type, out)).count(Started)
        last = out[-1]
        if self._ahead is None and not isinstance(last, Started):
            self._observe(last.duration)  # one sample a batch is enough for a moving average
        return out

    def resume(self) -> None:
        """The loop has handled every report wait() returned: once none is left to collect,
        workers held by a failure may begin queued calls again. Called after every batch."""
        if self._go.is_set():
            return
        with self._hold_lock:
            if self._outbox.empty():
                self._go.set()

    def withdraw(self, key: int) -> bool:
        """Take back ``key`` if its call has not begun: it then never runs and reports
        nothing. False when a worker already began it (its started notice is on the way)."""
        try:
            self._queued.remove(key)
        except KeyError:
            return False
        self._outstanding -= 1
        return True

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
            return Failed(key, exc, format_exc(), started, _clock.now(), took, self._here())
        took = time.perf_counter() - t0
        return _new(Succeeded, (key, value, started, _clock.now(), took, self._here()))

    def _here(self) -> str:
        me = threading.get_ident()
        if self._inline_thread != me:  # the calling thread's name, worked out once
            self._inline_thread = me
            self._inline_name = f"{self._host}/{threading.current_thread().name}"
        return self._inline_name

    def cancel(self, key: int) -> None:
        if self.withdraw(key):
            return
        self._abandoned.add(key)
        # Its thread no longer counts; the next submit() or wait() starts a replacement.
        self._outstanding -= 1
        self._usable -= 1

    def shutdown(self, wait: bool) -> None:
        self._queued.clear()  # anything still queued is dropped, not run
        self._go.set()
        for _ in self._threads:
            self._inbox.put(None)
        if wait:
            me = threading.current_thread()
            for t in self._threads:
                if t is not me:
                    t.join()
        self._threads = []

    def _observe(self, duration: float) -> None:
        mean = self._mean
        # A fast-moving average: one slow call shrinks the queue at once.
        mean = duration if mean is None else mean + 0.25 * (duration - mean)
        self._mean = mean
        ahead = int(QUEUE_SECONDS / mean) if mean > 0 else MAX_AHEAD
        self.capacity = self._max_workers * min(MAX_AHEAD, max(1, ahead))

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
        claim, go, cancel, hold = self._queued.remove, self._go, self._cancel, self._hold_lock
        clock, perf = _clock.now, time.perf_counter
        worker = f"{self._host}/{threading.current_thread().name}"
        notify = self._notify
        while True:
            item = get()
            if item is None:
                return
            key, fn, args = item
            item = None
            if not go.is_set():
                go.wait()  # a failure is being handled: it may withdraw this call
            if cancel is not None and cancel.is_set():
                continue  # the run is cancelled: the loop withdraws this call
            try:
                claim(key)
            except KeyError:  # withdrawn before it began: do not run it at all
                continue
            started = clock()
            if notify:
                put(_new(Started, (key, started, worker)))
            t0 = perf()
            try:
                value = fn(*args)
            except BaseException as exc:  # a task's SystemExit must not kill the worker silently
                done = perf() - t0
                report: Completion = Failed(key, exc, format_exc(), started, clock(), done, worker)
                del exc
                if key in abandoned:
                    abandoned.discard(key)
                    return
                with hold:  # hold the queue until the loop has seen this failure
                    put(report)
                    go.clear()
                del report, fn, args
                continue
            done = perf() - t0
            # finished_at from the same perf_counter interval as the duration: one clock
            # call less per call, and finished_at - started_at == duration_seconds.
            report = _new(Succeeded, (key, value, started, started + done, done, worker))
            del value
            if key in abandoned:
                # The loop gave up on this call and started a replacement thread: go away.
                abandoned.discard(key)
                return
            put(report)
            del report, fn, args
