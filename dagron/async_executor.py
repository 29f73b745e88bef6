"""``AsyncDAGExecutor``: the same scheduling decisions, driven from an asyncio event loop."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import deque
from traceback import format_exc
from typing import Any, Callable, Union

from . import _clock
from ._core import DAG
from ._plan import PerNode, Tasks, check_common, plan_run
from ._run import RetryDelay, RunState
from .backends.base import Failed, Succeeded
from .callbacks import ExecutionCallbacks
from .errors import RunInterrupted
from .progress import ProgressBar
from .result import ExecutionResult

__all__ = ["AsyncDAGExecutor"]

CANCEL_POLL_SECONDS = 0.01
IDLE_POLL_SECONDS = 0.25
# How long execute() waits for cancelled coroutines to unwind before returning anyway.
CANCEL_GRACE_SECONDS = 1.0

_thread_ids = iter(range(1 << 62))

_Report = Union[Succeeded, Failed]


class AsyncDAGExecutor:
    """Runs coroutine functions (and plain callables, on threads) over a DAG, on the running
    event loop. Options and results are those of :class:`dagron.DAGExecutor`; a timed-out or
    cancelled coroutine is really cancelled (``CancelledError`` inside it), a timed-out plain
    callable keeps running on its thread, unobserved.

    >>> import asyncio, dagron
    >>> dag = dagron.DAG.builder().add_node("a").build()
    >>> async def a():
    ...     return 1
    >>> asyncio.run(dagron.AsyncDAGExecutor(dag).execute({"a": a}))["a"].result
    1
    """

    def __init__(
        self,
        dag: DAG,
        max_workers: int | None = None,
        fail_fast: bool = True,
        timeout: PerNode = None,
        retries: PerNode = 0,
        retry_delay: RetryDelay = 0.0,
        callbacks: ExecutionCallbacks | None = None,
        enable_tracing: bool = False,
    ) -> None:
        self.dag = dag
        # Coroutines are cheap; without a bound every ready node starts at once.
        self.max_workers = check_common(
            1 << 30 if max_workers is None else max_workers, retries, retry_delay
        )
        self.fail_fast = fail_fast
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.callbacks = callbacks
        self.enable_tracing = enable_tracing

    async def execute(
        self,
        tasks: Tasks,
        *,
        timeout: PerNode = None,
        cancel_event: threading.Event | asyncio.Event | None = None,
        pass_results: bool = False,
        progress: bool = False,
    ) -> ExecutionResult:
        """Run ``tasks``; see :meth:`dagron.DAGExecutor.execute`. ``cancel_event`` may be a
        ``threading.Event`` or an ``asyncio.Event``. If this coroutine itself is cancelled,
        the running nodes are cancelled too and ``CancelledError`` propagates (``asyncio.run``
        turns Ctrl-C into that, then raises ``KeyboardInterrupt``); a ``KeyboardInterrupt``
        raised on the loop's thread (by a callback) cancels them and raises
        :class:`~dagron.errors.RunInterrupted` with the result so far.
        ``progress=True`` draws a progress bar on stderr when it is a terminal."""
        t0 = time.perf_counter()
        bar = ProgressBar(self.dag.node_count()) if progress else None
        try:
            state, asyncs = plan_run(self, tasks, timeout, pass_results, bar, run_async_inline=True)
            order = self.dag.topological_sort()
            if state.trace is not None and self.max_workers < 1 << 30:
                state.trace.slots = self.max_workers
            interrupted = False
            if state.n:
                interrupted = await _Driver(state, asyncs, self.max_workers).run(cancel_event)
        finally:
            if bar is not None:
                bar.close()
        result = state.finish(order, time.perf_counter() - t0)
        if interrupted:
            raise RunInterrupted(result)
        return result


class _Inbox:
    """Completions from node coroutines; the driver awaits them in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[_Report] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def put(self, item: _Report) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def take(self, timeout: float) -> list[_Report]:
        if not self.items:
            waiter = self.waiter = self.loop.create_future()
            handle = self.loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                self.waiter = None
                handle.cancel()
        out = list(self.items)
        self.items.clear()
        return out


def _wake(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Driver:
    def __init__(self, state: RunState, asyncs: list[bool], max_workers: int) -> None:
        self.state = state
        self.asyncs = asyncs
        self.max_workers = max_workers
        self.loop = asyncio.get_running_loop()
        self.inbox = _Inbox(self.loop)
        self.running: dict[int, asyncio.Task[None]] = {}
        self.host = f"{socket.gethostname()}/{os.getpid()}"

    async def run(self, cancel_event: Any) -> bool:
        """Drives the run to its end; returns True if a ``KeyboardInterrupt`` stopped it
        (unfinished nodes are then CANCELLED)."""
        state = self.state
        poll = IDLE_POLL_SECONDS if cancel_event is None else CANCEL_POLL_SECONDS
        try:
            while True:
                if cancel_event is not None and cancel_event.is_set():
                    for key in state.cancel():
                        self._abandon(key)
                    break
                if not state.stopping:
                    free = self.max_workers - state.inflight
                    if free > 0:
                        for i in state.ready.pop(free):
                            key = state.start(i)
                            self.running[key] = self.loop.create_task(
                                self._one(key, state.calls[i], state.args(i), self.asyncs[i])
                            )
                if state.idle:
                    break
                wakeup = state.next_wakeup()
                timeout = poll if wakeup is None else min(poll, wakeup - time.monotonic())
                reports = await self.inbox.take(max(0.0, timeout))
                for report in reports:
                    self.running.pop(report.key, None)
                state.absorb(reports)
                if wakeup is not None:
                    now = time.monotonic()
                    for key in state.expire(now):
                        self._abandon(key)
                    state.release_due(now)
        except asyncio.CancelledError:
            for key in state.cancel():
                self._abandon(key)
            await self._settle()
            raise
        except KeyboardInterrupt:  # raised on the loop's thread, by a callback say
            for key in state.cancel():
                self._abandon(key)
            await self._settle()
            return True
        await self._settle()
        return False

    def _abandon(self, key: int) -> None:
        task = self.running.get(key)
        if task is not None:
            task.cancel()

    async def _settle(self) -> None:
        """Let cancelled coroutines unwind, so none is left pending or never awaited."""
        pending = [t for t in self.running.values() if not t.done()]
        self.running.clear()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_GRACE_SECONDS)

    async def _one(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], is_async: bool
    ) -> None:
        started = _clock.now()
        t0 = time.perf_counter()
        if is_async:
            worker = f"{self.host}/asyncio"
            try:
                value = await fn(*args)
            except Exception as exc:
                took = time.perf_counter() - t0
                self.inbox.put(Failed(key, exc, format_exc(), started, _clock.now(), took, worker))
            else:
                took = time.perf_counter() - t0
                self.inbox.put(Succeeded(key, value, started, _clock.now(), took, worker))
            return
        fut = _in_thread(self.loop, fn, args)
        ok, value, tb, took, worker = await fut
        where, finished = f"{self.host}/{worker}", _clock.now()
        if ok:
            self.inbox.put(Succeeded(key, value, started, finished, took, where))
        else:
            self.inbox.put(Failed(key, value, tb, started, finished, took, where))


def _in_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...]
) -> asyncio.Future[tuple[bool, Any, str | None, float, str]]:
    """Run a plain callable on a fresh daemon thread (it may be abandoned if it hangs)."""
    fut: asyncio.Future[tuple[bool, Any, str | None, float, str]] = loop.create_future()

    def run() -> None:
        t0 = time.perf_counter()
        report: tuple[bool, Any, str | None]
        try:
            report = (True, fn(*args), None)
        except BaseException as exc:
            report = (False, exc, format_exc())
        outcome = (*report, time.perf_counter() - t0, threading.current_thread().name)
        try:
            loop.call_soon_threadsafe(_resolve, fut, outcome)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this result any more

    threading.Thread(target=run, name=f"dagron-async-{next(_thread_ids)}", daemon=True).start()
    return fut


def _resolve(fut: asyncio.Future[Any], outcome: Any) -> None:
    if not fut.done():
        fut.set_result(outcome)
