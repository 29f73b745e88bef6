"""The dask backend: run a DAG on an existing dask.distributed cluster.

``DAGExecutor(dag, backend=DaskBackend(client))`` submits each node to Dask the moment
dagron's Rust ``ReadySet`` says it is ready; Dask only places and runs single tasks. Results
stay on the Dask workers: a dependent node receives its predecessors' *futures*, so data moves
worker to worker, and the caller pulls a value only when it reads ``NodeResult.result``.

What Dask can and cannot stop: cancelling a future that has not started removes it; a task
already running in a Dask worker thread cannot be interrupted. A node over its timeout is
reported TIMED_OUT at once (its descendants SKIPPED) and its future cancelled, but a running
call keeps its worker thread busy until it returns.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Optional

import cloudpickle

from .. import _clock
from ..errors import SerializationError, WorkerLostError
from ..node_result import Deferred, error_message
from .base import Backend, Capabilities, Completion, Failed, Started, Succeeded

__all__ = ["DaskBackend"]

TOPIC = "dagron-timing"
# How long to wait for a finished task's timing event before falling back to client times.
TIMING_GRACE = 5.0
_SAFE_TYPES = (type(None), bool, int, float, complex, str, bytes, bytearray)


class DaskResult(Deferred):
    """A node's result still on the Dask workers; :meth:`load` fetches it once."""

    __slots__ = ("future",)

    def __init__(self, future: Any) -> None:
        self.future = future

    def load(self) -> Any:
        return self.future.result()


def _run_on_worker(token: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Runs on a Dask worker: times the call where it runs and reports the times as an
    event, checks that the result will travel, and returns it."""
    from distributed import get_worker

    worker = get_worker()
    where = f"{worker.address}/pid{os.getpid()}"
    # The Dask worker's own wall clock: a trace checks these stamps (dagron.tracing).
    started, t0 = time.time(), time.perf_counter()
    worker.log_event(TOPIC, {"token": token, "started": started, "worker": where})
    ok = False
    try:
        value = fn(*args)
        if not isinstance(value, _SAFE_TYPES):
            try:
                cloudpickle.dumps(value, protocol=5, buffer_callback=lambda b: None)
            except Exception as exc:
                raise _Unpicklable(type(value).__qualname__, error_message(exc)) from None
        ok = True
        return value
    finally:
        took = time.perf_counter() - t0
        worker.log_event(
            TOPIC,
            {
                "token": token,
                "ok": ok,
                "started": started,
                "finished": time.time(),
                "took": took,
                "worker": where,
            },
        )


class _Unpicklable(Exception):
    """Raised on the worker when a result cannot be serialized; becomes SerializationError."""

    def __init__(self, type_name: str, detail: str) -> None:
        super().__init__(type_name, detail)
        self.type_name = type_name
        self.detail = detail


def _swap_results(obj: Any) -> Any:
    """Replaces upstream results held on Dask by their futures, inside the containers the
    executor builds (a tuple of one dict), so Dask hands the data over worker to worker."""
    if isinstance(obj, DaskResult):
        return obj.future
    if isinstance(obj, dict):
        return {k: _swap_results(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_swap_results(v) for v in obj)
    return obj


class DaskBackend(Backend):
    """Runs node calls as tasks on a ``distributed.Client``'s cluster.

    ``client`` is a ``distributed.Client``; or give ``address`` (a scheduler address) and
    one is made and closed with the run; with neither, the current default client is used.
    """

    name = "dask"
    # Dask queues tasks on its workers itself: started notices come from the workers.
    capabilities = Capabilities(queues_ahead=True)

    def __init__(self, client: Any = None, *, address: Optional[str] = None) -> None:
        self._client = client
        self._address = address
        self._own_client = False
        self._done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self.capacity = 1
        self._futures: dict[int, Any] = {}
        self._names: dict[int, str] = {}
        self._tokens: dict[str, int] = {}
        self._token_of: dict[int, str] = {}
        self._timings: dict[str, dict[str, Any]] = {}
        self._waiting: dict[int, tuple[Any, float]] = {}  # finished, timing not yet here
        self._timing_lock = threading.Lock()
        self._run = uuid.uuid4().hex[:8]
        self._seq = itertools.count()

    def start(self, max_workers: int) -> None:
        from distributed import Client, get_client

        if self._client is None:
            if self._address is not None:
                self._client = Client(self._address)
                self._own_client = True
            else:
                self._client = get_client()
        self._client.subscribe_topic(TOPIC, self._on_timing)
        # Keep Dask's scheduler supplied with ready tasks (it queues them per worker itself);
        # the executor then counts timeouts from the started notices the workers send.
        threads = sum(self._client.nthreads().values()) or max_workers
        self.capacity = max(max_workers, 16 * threads)
        self.slots = max_workers

    def _on_timing(self, event: Any) -> None:
        # Runs on the client's event loop thread. A message without "ok" says the call began.
        _, msg = event
        if "ok" not in msg:
            self._done.put((-1, msg))
            return
        with self._timing_lock:
            self._timings[msg["token"]] = msg
        self._done.put((-2, None))  # wakes a wait() that holds a result for this timing

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        token = f"{name}-{self._run}-{next(self._seq)}"
        self._names[key] = name
        self._tokens[token] = key
        self._token_of[key] = token
        args = _swap_results(args)
        problem = self._unpicklable(fn, args, name)
        if problem is not None:
            self._done.put((key, problem))
            return
        future = self._client.submit(
            _run_on_worker, token, fn, args, key=f"dagron-{token}", pure=False
        )
        self._futures[key] = future
        future.add_done_callback(lambda f, key=key: self._done.put((key, f)))

    @staticmethod
    def _unpicklable(fn: Callable[..., Any], args: Any, name: str) -> Optional[SerializationError]:
        for what, obj in (("task", fn), ("argument", args)):
            try:
                cloudpickle.dumps(obj, protocol=5, buffer_callback=lambda b: None)
            except Exception as exc:
                return SerializationError(name, type(obj).__qualname__, what, error_message(exc))
        return None

    def wait(self, timeout: Optional[float]) -> list[Completion]:
        out: list[Completion] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while not out:
            self._collect_waiting(out)
            if out:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            step = 0.05 if self._waiting else left
            try:
                key, item = self._done.get(True, step)
            except queue.Empty:
                continue
            self._settle(key, item, out)
            while True:
                try:
                    key, item = self._done.get_nowait()
                except queue.Empty:
                    break
                self._settle(key, item, out)
        return out

    def _settle(self, key: int, item: Any, out: list[Completion]) -> None:
        if key == -2:  # a timing arrived
            self._collect_waiting(out)
            return
        if key == -1:  # a started notice
            started_key = self._tokens.get(item["token"])
            if started_key is not None and started_key in self._names:
                out.append(Started(started_key, item["started"], item["worker"]))
            return
        if key not in self._names:
            return  # cancelled meanwhile
        if isinstance(item, SerializationError):
            now = _clock.now()
            self._forget(key)
            out.append(Failed(key, item, None, now, now, 0.0, "client"))
            return
        status = item.status
        if status == "cancelled":
            return
        if status == "finished":
            self._waiting[key] = (item, time.monotonic())
            self._collect_waiting(out)
            return
        self._report_error(key, item, out)

    def _timing_of(self, future: Any) -> Optional[dict[str, Any]]:
        token = future.key[len("dagron-") :]
        with self._timing_lock:
            return self._timings.pop(token, None)

    def _collect_waiting(self, out: list[Completion]) -> None:
        for key, (future, since) in list(self._waiting.items()):
            t = self._timing_of(future)
            if t is None and time.monotonic() - since < TIMING_GRACE:
                continue
            del self._waiting[key]
            if t is None:  # the event was lost: the client's clock will have to do
                now = _clock.now()
                t = {"started": now, "finished": now, "took": 0.0, "worker": "dask"}
            self._forget(key, keep_future=True)
            value = DaskResult(future)
            out.append(Succeeded(key, value, t["started"], t["finished"], t["took"], t["worker"]))

    def _report_error(self, key: int, future: Any, out: list[Completion]) -> None:
        from distributed import KilledWorker

        exc = future.exception()
        tb_obj = future.traceback()
        tb = "".join(traceback.format_tb(tb_obj)) if tb_obj is not None else None
        t = self._timing_of(future)
        name = self._names.get(key, "")
        if isinstance(exc, KilledWorker):
            exc = WorkerLostError(f"the Dask workers running node {name!r} died: {exc}")
        elif isinstance(exc, _Unpicklable):
            exc = SerializationError(name, exc.type_name, "result", exc.detail)
        now = _clock.now()
        started = t["started"] if t else now
        finished = t["finished"] if t else now
        took = t["took"] if t else 0.0
        worker = t["worker"] if t else "dask"
        self._forget(key)
        out.append(Failed(key, exc, tb, started, finished, took, worker))

    def _forget(self, key: int, keep_future: bool = False) -> None:
        self._names.pop(key, None)
        self._tokens.pop(self._token_of.pop(key, ""), None)
        future = self._futures.pop(key, None)
        if future is not None and not keep_future:
            future.release()

    def cancel(self, key: int) -> None:
        future = self._futures.pop(key, None)
        self._names.pop(key, None)
        self._tokens.pop(self._token_of.pop(key, ""), None)
        self._waiting.pop(key, None)
        if future is not None:
            future.cancel()

    def shutdown(self, wait: bool) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        if self._client is not None:
            try:
                self._client.unsubscribe_topic(TOPIC)
            except Exception:
                pass
            if self._own_client:
                self._client.close()
