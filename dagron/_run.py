"""Bookkeeping for one run: the decisions of the scheduling loop, with no I/O of its own.

The drivers (``DAGExecutor`` on threads, ``AsyncDAGExecutor`` on an event loop) move calls to
and from a backend and feed what happened in here; this class owns the Rust ``ReadySet``,
per-node attempts, retries, deadlines, fail-fast, the results and the callbacks, so both
drivers share one set of semantics.

Keys: attempt ``a`` (1-based) of node ``i`` has key ``i + n * (a - 1)``, so a completion maps
back to its node without a lookup table, and a late completion of an abandoned attempt
(timed out, cancelled) is recognised as stale because ``current[i]`` no longer holds its key.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from . import _clock
from ._core import DAG, ReadySet
from ._deadlines import Deadlines
from ._inputs import Inputs, no_inputs
from ._recall import recall_queued
from ._report import build_report
from ._retries import Retries, RetryDelay
from .backends.base import Completion, Started, Succeeded
from .callbacks import ExecutionCallbacks, fire
from .errors import TaskTimeoutError
from .node_result import NodeResult, NodeStatus, describe_error
from .result import ExecutionResult

if TYPE_CHECKING:
    from .tracing import Recorder

__all__ = ["DebugRunState", "RetryDelay", "RunState", "per_node"]

_COMPLETED = NodeStatus.COMPLETED

logger = logging.getLogger("dagron")


class RunState:
    """Scheduler state for one run of ``dag`` with ``calls[i]`` the callable of node ``i``.

    Constructing one gives a :class:`DebugRunState` when the "dagron" logger wants DEBUG, so
    the per-node log lines cost a run without them nothing, not even a flag test."""

    def __new__(cls, *args: Any, **kwargs: Any) -> RunState:
        if cls is RunState and logger.isEnabledFor(logging.DEBUG):
            cls = DebugRunState
        return object.__new__(cls)

    def __init__(
        self,
        dag: DAG,
        names: Sequence[str],
        calls: Sequence[Callable[..., Any]],
        *,
        fail_fast: bool,
        timeouts: list[float | None] | None,
        retries: list[int] | None,
        retry_delay: RetryDelay,
        callbacks: ExecutionCallbacks | None,
        pass_results: bool,
        trace: Recorder | None = None,
    ) -> None:
        n = len(names)
        self.n = n
        self.names = names
        self.calls = calls
        self.ready = ReadySet(dag)
        self.fail_fast = fail_fast
        self.timeouts = timeouts
        self.retry = Retries(retries, retry_delay)
        # None without timeouts: no per-node test of a deadline then
        self.deadlines = Deadlines(timeouts) if timeouts is not None else None
        self.dag = dag
        self.trace = trace
        self.retried: list[NodeResult] = []  # tries that were retried (kept when tracing)
        self.attempts = [0] * n
        self.current = [-1] * n  # key of the attempt in flight, -1 when none
        self.results: list[NodeResult | None] = [None] * n
        self.inflight = 0
        self.stopping = False
        self.pass_results = pass_results
        # args(i): the arguments of node i's call
        self.args: Callable[[int], tuple[Any, ...]] = (
            Inputs(dag, names, self.results).args if pass_results else no_inputs
        )
        # A prefetching backend (capacity > max_workers) queues calls before they begin and
        # says when each really starts; see use_prefetch().
        self.prefetch = False
        self.begun: list[bool] = []
        self.withdraw: Callable[[int], bool] | None = None
        self.running_on: dict[int, str] = {}  # node -> worker named by its started notice
        self.to_cancel: list[int] = []  # keys the driver must cancel on its backend
        cb = callbacks or ExecutionCallbacks()
        self.on_start = cb.on_start
        self.on_complete = cb.on_complete
        self.on_failure = cb.on_failure
        self.on_skip = cb.on_skip
        self.on_retry = cb.on_retry
        self.on_timeout = cb.on_timeout
        self.on_cancel = cb.on_cancel
        # read once per batch by the methods that take one (absorb, cancel, skips)
        self.debug = logger.isEnabledFor(logging.DEBUG)

    @property
    def delayed(self) -> list[tuple[float, int]]:
        """(due, node) of failed attempts waiting out their retry delay (still "running")."""
        return self.retry.waiting

    # -- dispatch ---------------------------------------------------------------------------

    def use_prefetch(
        self, withdraw: Callable[[int], bool] | None = None, notices: bool = True
    ) -> None:
        """The backend queues calls ahead and sends a started notice per call: ``on_start``
        and timeouts go by the notices, and fail-fast recalls calls not begun, through
        ``withdraw(key)`` when the backend has it (atomic; False: it began after all), else
        taking a call not known to have begun as withdrawn. ``notices=False`` (needs
        ``withdraw``, no timeouts, no ``on_start``): none are sent, and fail-fast asks
        ``withdraw`` about every call in flight."""
        if notices:
            self.prefetch = True
            self.begun = [False] * self.n
        elif withdraw is None or self.timeouts is not None or self.on_start is not None:
            raise ValueError(
                "a run without started notices needs withdraw(), no timeouts and no on_start"
            )
        self.withdraw = withdraw

    def start(self, i: int, now: bool = False) -> int:
        """Node ``i`` (just popped from the ReadySet) goes to a worker; returns its key.
        ``now``: its call begins at once on this thread (no started notice will come)."""
        attempt = self.attempts[i] + 1
        self.attempts[i] = attempt
        key = i + self.n * (attempt - 1)
        self.current[i] = key
        self.inflight += 1
        if self.prefetch:
            if not now:
                self.begun[i] = False  # queued: started() arms its clock and fires on_start
                return key
            self.begun[i] = True
        deadlines = self.deadlines
        if deadlines is not None:
            timeout = deadlines.timeouts[i]
            if timeout is not None:
                deadlines.arm(i, key, timeout, time.monotonic())
        if self.on_start is not None:
            fire(self.on_start, self.names[i])
        return key

    def start_many(self, batch: Sequence[int]) -> list[int]:
        """:meth:`start` for each node of ``batch`` (queued on a backend); returns the keys.
        Without timeouts or ``on_start``, done here with locals, in one go."""
        if self.timeouts is not None or self.on_start is not None:
            return [self.start(i) for i in batch]
        attempts, current, n = self.attempts, self.current, self.n
        begun = self.begun if self.prefetch else None
        keys = []
        for i in batch:
            attempt = attempts[i] = attempts[i] + 1
            key = current[i] = i + n * (attempt - 1)
            if begun is not None:
                begun[i] = False
            keys.append(key)
        self.inflight += len(batch)
        return keys

    # -- events from the backend ------------------------------------------------------------

    def absorb(self, reports: Iterable[Completion]) -> None:
        """Feed a backend's reports (:class:`~dagron.backends.base.Started`, ``Succeeded``,
        ``Failed``) in order. Successes, by far the most common, are handled right here, with
        the attributes they need in locals: the loop's hot path."""
        n, current, results, names = self.n, self.current, self.results, self.names
        attempts, complete, on_complete = self.attempts, self.ready.complete, self.on_complete
        begun = self.begun if self.prefetch else None
        debug = self.debug
        done = 0  # successes, taken off inflight at the end (only arithmetic uses it here)
        for report in reports:
            if type(report) is not Succeeded:
                if type(report) is Started:
                    self.started(report.key, report.worker)
                else:
                    self.failed(*report)
                continue
            key, value, started, finished, took, worker = report
            i = key % n
            if current[i] != key:
                continue  # stale: this attempt was abandoned
            if begun is not None and not begun[i]:
                self.started(key, worker)  # its started notice never came: it did begin
            current[i] = -1
            done += 1
            name = names[i]
            results[i] = NodeResult(
                name, _COMPLETED, value, None, None, took, started, finished, attempts[i], worker
            )
            complete(i)
            if debug:
                logger.debug("dagron: node %r completed in %.6f s on %s", name, took, worker)
            if on_complete is not None:
                fire(on_complete, name, value)
        self.inflight -= done

    def failed(
        self,
        key: int,
        error: BaseException,
        tb: str | None,
        started: float | None,
        finished: float | None,
        took: float,
        worker: str | None,
        status: NodeStatus = NodeStatus.FAILED,
    ) -> None:
        i = key % self.n
        if self.current[i] != key:
            return
        if self.prefetch and not self.begun[i] and status is not NodeStatus.TIMED_OUT:
            self.started(key, worker)  # its started notice never came: it did begin
        self.current[i] = -1
        self.inflight -= 1
        name = self.names[i]
        result = NodeResult(
            name, status, None, error, tb, took, started, finished, self.attempts[i], worker
        )
        retry = self.retry
        if not self.stopping and retry.allows(i, self.attempts[i]):
            if self.trace is not None:
                self.retried.append(result)
            logger.info(
                "dagron: node %r attempt %d %s; retrying: %s",
                name,
                self.attempts[i],
                "timed out" if status is NodeStatus.TIMED_OUT else "failed",
                describe_error(error),
            )
            delay = retry.delay_before(self.attempts[i] + 1)
            if delay > 0:
                retry.hold(i, time.monotonic() + delay, result)
            else:
                self.ready.requeue(i)
            if self.on_retry is not None:
                fire(self.on_retry, name, self.attempts[i] + 1, error)
            return
        self._finish_failed(i, result)

    def started(self, key: int, worker: str | None = None) -> None:
        """A backend with queued work says the call of ``key`` really began (on ``worker``):
        restart the clock of its timeout."""
        i = key % self.n
        if self.current[i] != key:
            return
        if worker is not None:
            self.running_on[i] = worker
        if self.prefetch:
            if self.begun[i]:
                return  # a repeated notice (a backend may re-send one)
            self.begun[i] = True
            if self.on_start is not None:
                fire(self.on_start, self.names[i])
        deadlines = self.deadlines
        if deadlines is None:
            return
        timeout = deadlines.timeouts[i]
        if timeout is not None:
            deadlines.arm(i, key, timeout, time.monotonic())

    def expire(self, now: float) -> list[int]:
        """Time out every attempt past its deadline; returns their keys (to cancel)."""
        deadlines = self.deadlines
        if deadlines is None:
            return []
        out: list[int] = []
        current, timeouts = self.current, deadlines.timeouts
        for key in deadlines.due(now, current):
            i = key % self.n
            if current[i] != key:
                continue  # armed twice at one instant: timed out above already
            out.append(key)
            wall, mono = deadlines.began(i)
            error = TaskTimeoutError(self.names[i], timeouts[i])
            took = now - mono
            worker = self.running_on.get(i)
            self.failed(key, error, None, wall, _clock.now(), took, worker, NodeStatus.TIMED_OUT)
        return out

    def release_due(self, now: float) -> None:
        """Requeue the retries whose delay has passed."""
        if self.retry.waiting:
            requeue = self.ready.requeue
            for i in self.retry.release(now):
                requeue(i)

    def next_wakeup(self) -> float | None:
        """Monotonic time of the next live deadline or due retry, if any."""
        retry = self.retry.next() if self.retry.waiting else None
        if self.deadlines is None:
            return retry
        deadline = self.deadlines.next(self.current)
        if deadline is None or retry is None:
            return retry if deadline is None else deadline
        return min(deadline, retry)

    @property
    def idle(self) -> bool:
        """Nothing in flight and no retry waiting: with nothing ready either, the run is over."""
        return self.inflight == 0 and not self.retry.waiting

    # -- stopping ---------------------------------------------------------------------------

    def cancel(self) -> list[int]:
        """Cancel the run: every node not finished becomes CANCELLED, in graph order.
        Returns the keys still in flight, for the driver to cancel on its backend."""
        self.stopping = True
        keys = [k for k in self.current if k >= 0]
        self.current = [-1] * self.n
        self.inflight = 0
        self.retry.clear()
        deadlines = self.deadlines
        if deadlines is not None:
            deadlines.clear()
        now = _clock.now()
        for i, r in enumerate(self.results):
            if r is None:
                began = deadlines.started_at(i) if deadlines is not None else None
                self.results[i] = _cancelled(
                    self.names[i], began, now, self.attempts[i], self.running_on.get(i)
                )
                if self.debug:
                    logger.debug("dagron: node %r cancelled", self.names[i])
                if self.on_cancel is not None:
                    fire(self.on_cancel, self.names[i])
        return keys

    def finish(self, order: Sequence[str], elapsed: float) -> ExecutionResult:
        """The report, with ``node_results`` in ``order`` (a topological order)."""
        return build_report(
            self.names, self.results, order, elapsed, self.dag, self.trace, self.retried
        )

    # -- internals --------------------------------------------------------------------------

    def _finish_failed(self, i: int, result: NodeResult) -> None:
        self.results[i] = result
        name = self.names[i]
        _log_failure(result)
        if result.status is NodeStatus.TIMED_OUT:
            if self.on_timeout is not None:
                fire(self.on_timeout, name, result.error.timeout)  # type: ignore[union-attr]
        elif self.on_failure is not None:
            fire(self.on_failure, name, result.error)
        self._skip(self.ready.fail(i))
        if self.fail_fast and not self.stopping:
            self._stop()

    def _stop(self) -> None:
        """Fail-fast: start nothing new. Unstarted nodes (also those queued on a prefetching
        backend but not begun) are SKIPPED; nodes waiting for a retry end FAILED with their
        last error; running nodes are left to finish."""
        self.stopping = True
        self._skip(self.ready.drop_unstarted())
        if self.prefetch or self.withdraw is not None:  # queued, not begun: take back, skip
            begun = self.begun if self.prefetch else None
            for i in recall_queued(self.current, begun, self.withdraw, self.to_cancel):
                self.current[i] = -1
                self.inflight -= 1
                self.ready.fail(i)
                self._skip([i])
        for i, result in self.retry.abandon():
            self.ready.fail(i)  # still "running" in the ReadySet; its descendants are dropped
            self.results[i] = result
            _log_failure(result)
            if self.on_failure is not None:
                fire(self.on_failure, result.name, result.error)

    def _skip(self, indices: Sequence[int]) -> None:
        names, results, on_skip = self.names, self.results, self.on_skip
        for j in indices:
            if results[j] is None:
                results[j] = NodeResult(names[j], NodeStatus.SKIPPED)
                if self.debug:
                    logger.debug("dagron: node %r skipped", names[j])
                if on_skip is not None:
                    fire(on_skip, names[j])


class DebugRunState(RunState):
    """A :class:`RunState` that also logs each node's start at DEBUG (what a run gets when
    the "dagron" logger wants DEBUG)."""

    def start(self, i: int, now: bool = False) -> int:
        key = super().start(i, now)
        logger.debug("dagron: node %r started (attempt %d)", self.names[i], self.attempts[i])
        return key

    def start_many(self, batch: Sequence[int]) -> list[int]:
        start = self.start
        return [start(i) for i in batch]


def _cancelled(
    name: str, began: float | None, now: float, attempts: int, worker: str | None
) -> NodeResult:
    """A node cancelled ``now``, after beginning at ``began`` (None: it never began)."""
    ended = now if began is not None else None
    return NodeResult(
        name, NodeStatus.CANCELLED, None, None, None, 0.0, began, ended, attempts, worker
    )


def _log_failure(result: NodeResult) -> None:
    what = "timed out" if result.status is NodeStatus.TIMED_OUT else "failed"
    where = f" on {result.worker}" if result.worker else ""
    logger.warning(
        "dagron: node %r %s after %d attempt(s)%s: %s",
        result.name,
        what,
        result.attempts,
        where,
        describe_error(result.error),
    )


def per_node(
    option: float | int | Mapping[str, Any] | None,
    names: Sequence[str],
    own: Sequence[Any | None],
    default: Any,
) -> list[Any] | None:
    """Resolve a per-node option. Most specific wins: an entry of a mapping ``option``, then
    the task's own setting (``own[i]``, from ``@task(...)``), then a scalar ``option``, then
    ``default``. Returns ``None`` when every node gets ``default`` (the fast path)."""
    if isinstance(option, Mapping):
        mapping, blanket = option, default
    else:
        mapping, blanket = {}, default if option is None else option
        if own.count(None) == len(own):  # the common case, without a loop in Python
            return None if blanket == default else [blanket] * len(names)
    out = []
    for name, mine in zip(names, own):
        value = mapping.get(name)
        if value is None:
            value = mine if mine is not None else blanket
        out.append(value)
    return None if all(v == default for v in out) else out
