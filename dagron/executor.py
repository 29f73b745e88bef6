"""``DAGExecutor``: one dependency-driven scheduling loop over a pluggable backend."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable, Union

from ._core import DAG
from ._plan import PerNode, RunCoroutine, Tasks, check_common, plan_run
from ._run import RetryDelay, RunState
from ._sizes import Size, parse_size
from .backends import Backend, available_backends, check_memory_limit, create_backend
from .backends.base import Completion, Succeeded
from .callbacks import ExecutionCallbacks
from .errors import RunInterrupted
from .progress import ProgressBar
from .result import ExecutionResult

__all__ = ["DAGExecutor", "ExecutionCallbacks"]

logger = logging.getLogger("dagron")


def asyncio_running() -> bool:
    """True when this thread is inside a running asyncio event loop (e.g. Jupyter)."""
    aio = sys.modules.get("asyncio")
    if aio is None:  # no loop runs without asyncio imported: spare plain scripts the import
        return False
    try:
        aio.get_running_loop()
    except RuntimeError:
        return False
    return True


# How often the loop looks at cancel_event while nothing else wakes it.
CANCEL_POLL_SECONDS = 0.01
# Upper bound on one blocking wait, so Ctrl-C and clock-driven work are never starved.
IDLE_POLL_SECONDS = 0.25


class DAGExecutor:
    """Runs one callable per node of a DAG, each as soon as its own predecessors are done.

    >>> import dagron
    >>> dag = dagron.DAG.builder().add_node("a").add_node("b").add_edge("a", "b").build()
    >>> result = dagron.DAGExecutor(dag).execute({"a": lambda: 1, "b": lambda: 2})
    >>> result.succeeded, result["b"].result
    (2, 2)

    Options:

    * ``max_workers``: calls running at once (``None``: ``os.cpu_count()``).
    * ``fail_fast``: on the first failure start nothing new; its descendants and every node
      not yet started are SKIPPED, running nodes finish. ``False``: only the failed node's
      descendants are SKIPPED and every other branch runs.
    * ``backend``: ``"threads"`` (a name from :func:`dagron.backends.available_backends`),
      an object with a ``backend()`` method (a cluster), or a zero-argument factory returning
      a :class:`~dagron.backends.Backend`. ``"processes"`` keeps its ``max_workers`` worker
      processes warm for later runs until idle for a while
      (see :func:`dagron.shutdown_default_pool`).
    * ``timeout``: seconds per node, counted from that node's own start; a float for every
      node or a mapping ``{name: seconds}``. A node over it is TIMED_OUT, its descendants
      SKIPPED. A thread cannot be killed: it runs on in the background, unobserved.
    * ``retries`` (int or mapping) extra attempts after a failure or timeout, waiting
      ``retry_delay`` seconds first (or ``retry_delay(attempt)`` for a backoff).
    * ``callbacks``: an :class:`ExecutionCallbacks`, fired on the calling thread.
    * ``memory_limit``: the most memory each worker process may use, in bytes or as text
      (``"2GB"``, ``"512MiB"``); a worker over it is restarted and the node it ran fails
      with :class:`~dagron.errors.WorkerLostError` (its retries apply). Only for
      ``backend="processes"``; a cluster takes its own (``LocalCluster(memory_limit=)``).
    * ``enable_tracing``: record a :class:`dagron.Trace` in ``ExecutionResult.trace``: every
      attempt's start, end, status and worker, for :func:`dagron.profile`,
      ``result.timeline(path)`` and ``result.trace.save(path)`` (Chrome/Perfetto JSON).

    Per-node settings beat blanket ones: a mapping entry, then ``@task(timeout=, retries=)``,
    then the scalar.
    """

    def __init__(
        self,
        dag: DAG,
        max_workers: int | None = None,
        fail_fast: bool = True,
        backend: Union[str, Any] = "threads",
        timeout: PerNode = None,
        retries: PerNode = 0,
        retry_delay: RetryDelay = 0.0,
        callbacks: ExecutionCallbacks | None = None,
        enable_tracing: bool = False,
        memory_limit: Size | None = None,
    ) -> None:
        self.dag = dag
        self.max_workers = check_common(max_workers, retries, retry_delay)
        if isinstance(backend, str) and backend not in available_backends():
            raise ValueError(
                f"unknown backend {backend!r}; available: {', '.join(available_backends())}"
            )
        self.memory_limit = None if memory_limit is None else parse_size(memory_limit)
        if self.memory_limit is not None:
            check_memory_limit(backend)
        self.fail_fast = fail_fast
        self.backend = backend
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.callbacks = callbacks
        self.enable_tracing = enable_tracing

    def execute(
        self,
        tasks: Tasks,
        *,
        timeout: PerNode = None,
        cancel_event: threading.Event | None = None,
        pass_results: bool = False,
        progress: bool = False,
    ) -> ExecutionResult:
        """Run ``tasks`` (a mapping of node name to callable) and report every node.

        ``timeout`` replaces the executor's for this run. Setting ``cancel_event`` stops the
        run: every unfinished node is CANCELLED and ``execute()`` returns at once, without
        waiting for calls already running. Ctrl-C does the same, stops the workers, and then
        raises :class:`~dagron.errors.RunInterrupted` (a ``KeyboardInterrupt``) carrying the
        result as ``.result``, so an interrupted script does not look successful. With
        ``pass_results`` each task is called with one argument, a dict mapping each
        predecessor's name to its result (roots get ``{}``). ``progress=True`` draws a live
        progress bar on stderr (tqdm; quiet when stderr is not a terminal).

        Raises :class:`~dagron.errors.MissingTaskError`, :class:`~dagron.errors.UnknownTaskError`
        or :class:`~dagron.errors.TaskNotCallableError` before anything runs.
        """
        t0 = time.perf_counter()
        bar = ProgressBar(self.dag.node_count()) if progress else None
        interrupted = False
        try:
            state, _ = plan_run(self, tasks, timeout, pass_results, bar, run_async_inline=False)
            order = self.dag.topological_sort()
            if state.trace is not None:
                state.trace.slots = self.max_workers
            if state.n:
                backend = create_backend(self.backend, self.memory_limit)
                backend.start(self.max_workers)
                try:
                    if state.trace is not None:
                        # A cluster runs as many calls at once as it has workers.
                        state.trace.slots = backend.slots
                    interrupted = _drive(state, backend, self.max_workers, cancel_event)
                    if state.trace is not None and backend.capabilities.clock_offsets:
                        state.trace.clock_offsets = backend.clock_offsets()
                finally:
                    backend.shutdown(wait=False)
        finally:
            if bar is not None:
                bar.close()
        result = state.finish(order, time.perf_counter() - t0)
        if interrupted:  # the backend is shut down (its workers stopped) by now
            raise RunInterrupted(result)
        return result

    def __repr__(self) -> str:
        return (
            f"DAGExecutor(<{self.dag.node_count()} nodes>, max_workers={self.max_workers}, "
            f"fail_fast={self.fail_fast}, backend={self.backend!r})"
        )


def _drive(
    state: RunState,
    backend: Backend,
    max_workers: int,
    cancel_event: threading.Event | None,
) -> bool:
    """The scheduling loop: pop ready nodes, submit them, feed completions back, repeat.
    Returns True if Ctrl-C stopped it (unfinished nodes are then CANCELLED)."""
    try:
        _loop(state, backend, max_workers, cancel_event)
    except KeyboardInterrupt:
        # Ctrl-C may land anywhere in the loop, the backend's own code included: a backend
        # that keeps its workers for later runs hears of it first, so it trusts nothing
        # this run left. cancel() only trusts per-node results, so a half-recorded event
        # cannot confuse it.
        if backend.capabilities.interrupt:
            backend.interrupt()
        for key in state.cancel():
            backend.cancel(key)
        logger.warning("dagron: interrupted; unfinished nodes were cancelled")
        return True
    return False


def _inline_runner(
    backend: Backend, cancel_event: threading.Event | None
) -> Callable[[int, Callable[..., Any], tuple[Any, ...]], Completion] | None:
    """The backend's ``run_inline`` when it has one and running on this thread is safe: not
    while a ``cancel_event`` needs the loop free to notice it, nor inside a running event loop
    (a task calling ``asyncio.run`` would fail here but not on a worker thread)."""
    if not backend.capabilities.run_inline or cancel_event is not None or asyncio_running():
        return None
    return backend.run_inline


def _run_here(
    state: RunState,
    run_inline: Callable[[int, Callable[..., Any], tuple[Any, ...]], Completion],
    i: int,
    capacity: int,
) -> list[int]:
    """Run node ``i``, the only one that can run, on this thread, and after it each node that
    is then again the only one ready. Returns the next nodes for the backend: several ready
    at once, or one this thread must not run (it has a timeout, or is a coroutine); empty
    when nothing is ready (the run is over, stopping, or waiting out a retry delay)."""
    pop, start, args, calls = state.ready.pop, state.start, state.args, state.calls
    absorb = state.absorb
    timeouts = state.timeouts
    while True:
        if (timeouts is not None and timeouts[i] is not None) or type(calls[i]) is RunCoroutine:
            return [i]
        report = run_inline(start(i, True), calls[i], args(i))
        absorb((report,))
        if type(report) is not Succeeded and (state.stopping or state.delayed):
            return []
        batch = pop(capacity)
        if len(batch) != 1:
            return batch
        i = batch[0]


def _loop(
    state: RunState,
    backend: Backend,
    max_workers: int,
    cancel_event: threading.Event | None,
) -> None:
    pop, args, calls = state.ready.pop, state.args, state.calls
    submit, wait = backend.submit, backend.wait
    caps = backend.capabilities
    submit_many = backend.submit_many if caps.submit_many else None
    absorb, start_many, passes = state.absorb, state.start_many, state.pass_results
    poll = IDLE_POLL_SECONDS if cancel_event is None else CANCEL_POLL_SECONDS
    clock = time.monotonic
    run_inline = _inline_runner(backend, cancel_event)
    # A backend may want more calls outstanding than it runs at once (prefetch), and may
    # change how many after each wait() (the threads backend adapts it to call durations).
    adaptive = caps.adaptive_capacity
    capacity = max(max_workers, backend.capacity)
    if capacity > max_workers or caps.queues_ahead:
        withdraw = backend.withdraw if caps.withdraw else None
        # Started notices serve timeouts and on_start; fail-fast can ask withdraw() instead.
        quiet = (
            withdraw is not None
            and caps.quiet_starts
            and state.timeouts is None
            and state.on_start is None
        )
        if quiet:
            backend.skip_started_notices()
        state.use_prefetch(withdraw, notices=not quiet)
        if cancel_event is not None and caps.watches_cancel:
            backend.watch_cancel(cancel_event)  # so queued calls never begin once it is set
    resume = backend.resume if caps.holds_after_failure else None
    names = state.names
    while True:
        if cancel_event is not None and cancel_event.is_set():
            for key in state.cancel():
                backend.cancel(key)
            return
        if not state.stopping:
            if adaptive:
                capacity = backend.capacity
            free = capacity - state.inflight
            if free > 0:
                batch = pop(free)
                if (
                    run_inline is not None
                    and len(batch) == 1
                    and state.inflight == 0
                    and not state.delayed
                ):
                    # The only node that can run now: run it here, saving two thread
                    # switches (the bulk of the per-node cost on a chain).
                    batch = _run_here(state, run_inline, batch[0], capacity)
                if batch:
                    # Once pool threads are in use, keep them busy rather than cold: running
                    # lone nodes here meanwhile measured slower on wide random DAGs.
                    run_inline = None
                if submit_many is not None and not passes:
                    # no pass_results: every call takes no argument
                    submit_many([(key, calls[i], ()) for key, i in zip(start_many(batch), batch)])
                else:
                    for key, i in zip(start_many(batch), batch):
                        submit(key, calls[i], args(i), names[i])
        if state.idle:
            return  # nothing running, nothing ready, no retry pending: the run is over
        wakeup = state.next_wakeup()
        timeout = poll if wakeup is None else min(poll, max(0.0, wakeup - clock()))
        absorb(wait(timeout))
        if resume is not None:
            resume()  # a backend holds its queue after a failure until the loop has seen it
        if state.to_cancel:
            for key in state.to_cancel:
                backend.cancel(key)
            state.to_cancel.clear()
        if wakeup is not None:
            now = clock()
            for key in state.expire(now):
                backend.cancel(key)
            state.release_due(now)
