"""The backend contract: what the executor's scheduling loop needs from a place that runs tasks.

The loop in ``DAGExecutor`` decides everything (what is ready, retries, timeouts, fail-fast,
callbacks). A backend only runs one node's call when told to and reports back. All methods
are called from the coordinating thread; ``wait`` is where that thread blocks.

The contract has three parts, all in this module:

* :class:`Backend`: the required methods, plus optional ones that a backend offers by saying
  so in its :class:`Capabilities` (the loop reads them once per run; it never probes a
  backend for a method).
* :class:`Capabilities`: the optional features, as data.
* Reports: :class:`Started`, :class:`Succeeded` and :class:`Failed`, what ``wait`` returns.

Keys: the loop gives every attempt of every node a distinct ``int`` key and expects it back
in the reports. A report for a key the loop has given up on (timed out, cancelled) is
ignored, so a backend never has to guarantee it will not send one.

Stamps: ``started_at``/``finished_at`` are wall-clock stamps on the run's timeline
(:mod:`dagron._clock`; a backend with workers elsewhere moves their stamps onto it) and
``duration`` is ``time.perf_counter()`` seconds around the call, all taken where it ran.

Building a report on a hot path: ``tuple.__new__(Succeeded, (key, value, ...))`` makes the
same record as ``Succeeded(key, value, ...)`` in less than half the time (it skips the
keyword handling of a named tuple's ``__new__``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence, Union

if TYPE_CHECKING:
    from .._clock import ClockOffset

__all__ = [
    "Backend",
    "BackendSource",
    "Call",
    "Capabilities",
    "Completion",
    "Failed",
    "Started",
    "Succeeded",
]

#: One call to queue: ``(key, fn, args)``.
Call = tuple[int, Callable[..., Any], tuple[Any, ...]]


class Started(NamedTuple):
    """The call of ``key`` really began, on ``worker``. Sent only by a backend that queues
    calls before they begin (:attr:`Capabilities.queues_ahead`), so ``on_start`` fires and
    the node's timeout counts from the real start."""

    key: int
    started_at: float
    worker: str


class Succeeded(NamedTuple):
    """The call of ``key`` returned ``value``. ``value`` may be a
    :class:`dagron.result.Deferred` that loads on first access."""

    key: int
    value: Any
    started_at: float
    finished_at: float
    duration: float
    worker: str


class Failed(NamedTuple):
    """The call of ``key`` raised ``error`` (``traceback`` as text, when there is one), or
    could not be run at all (an unpicklable task, a lost worker)."""

    key: int
    error: BaseException
    traceback: Optional[str]
    started_at: float
    finished_at: float
    duration: float
    worker: str


#: What :meth:`Backend.wait` returns a sequence of.
Completion = Union[Started, Succeeded, Failed]


@dataclass(frozen=True)
class Capabilities:
    """The optional parts of the contract a backend has. Each flag promises the methods and
    behaviour it names; the loop reads them once, before the first submit."""

    #: Calls may be queued before a worker is free (prefetch): the backend sends a
    #: :class:`Started` for every call when it really begins, unless told not to
    #: (``quiet_starts``). Implied when ``capacity`` exceeds ``max_workers``.
    queues_ahead: bool = False
    #: ``capacity`` may change after every ``wait()`` (the loop reads it again each time).
    adaptive_capacity: bool = False
    #: :meth:`Backend.withdraw` takes a queued call back atomically. Fail-fast uses it, and
    #: counts a call it cannot withdraw as running.
    withdraw: bool = False
    #: After reporting a failure the backend begins no queued call until the loop calls
    #: :meth:`Backend.resume` (so fail-fast starts nothing new). Called after every batch.
    holds_after_failure: bool = False
    #: :meth:`Backend.watch_cancel` takes the run's ``cancel_event``: no queued call begins
    #: once it is set.
    watches_cancel: bool = False
    #: :meth:`Backend.skip_started_notices` turns :class:`Started` reports off for the run
    #: (the loop does so, with ``withdraw``, when no timeout and no ``on_start`` needs them).
    quiet_starts: bool = False
    #: :meth:`Backend.submit_many` queues a list of calls in one call.
    submit_many: bool = False
    #: :meth:`Backend.run_inline` runs one call on the calling thread. The loop uses it only
    #: when that node is the one thing that can run (nothing in flight, nothing else ready,
    #: no retry waiting), has no timeout, and no ``cancel_event`` is in use, so no
    #: parallelism is lost and two thread switches per node are saved on chains. Only for
    #: backends that run calls in this process.
    run_inline: bool = False
    #: :meth:`Backend.clock_offsets` reports each worker's measured clock offset; a traced
    #: run records them in its trace.
    clock_offsets: bool = False
    #: :meth:`Backend.limit_memory` sets the most memory each worker may use: one over it
    #: is restarted and the node it ran fails (``DAGExecutor(memory_limit=)``).
    memory_limit: bool = False
    #: :meth:`Backend.interrupt` is called when Ctrl-C stops the run, before the loop
    #: cancels what is unfinished: a backend that keeps workers for later runs stops them
    #: instead (the interrupt may have landed in the middle of its own code).
    interrupt: bool = False


class Backend(ABC):
    """Runs single node calls for one run of the scheduling loop. Subclass it.

    Lifecycle: ``start(max_workers)`` once, then any number of ``submit`` / ``wait`` /
    ``cancel``, then ``shutdown(wait=...)`` exactly once (also after errors). The loop never
    has more than ``capacity`` submitted keys outstanding, not counting cancelled ones.

    The optional methods at the end are called only when :attr:`capabilities` says the
    backend has them.
    """

    #: The backend's name, for messages.
    name: str = "backend"
    #: What the backend offers beyond the required methods.
    capabilities: Capabilities = Capabilities()
    #: How many submitted keys the backend wants outstanding, set by ``start``. Equal to
    #: ``max_workers``: every submitted call starts at once. Larger (prefetch, so a worker's
    #: next call is already there when one finishes): the backend must send :class:`Started`
    #: reports, and ``on_start``, timeouts and fail-fast then go by them.
    capacity: int = 1
    #: How many calls the backend runs at once, set by ``start`` (a cluster's worker count,
    #: which may differ from ``max_workers``). Traces record it.
    slots: int = 1

    @abstractmethod
    def start(self, max_workers: int) -> None:
        """Get ready to run up to ``max_workers`` calls at once; set ``capacity`` and
        ``slots``."""

    @abstractmethod
    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        """Run ``fn(*args)`` and report it for ``key``. Must not block. ``name`` is the
        node's, for messages."""

    @abstractmethod
    def wait(self, timeout: float | None) -> Sequence[Completion]:
        """Block up to ``timeout`` seconds (``None``: until something arrives) and return every
        report available, oldest first; an empty sequence on timeout."""

    @abstractmethod
    def cancel(self, key: int) -> None:
        """Give up on ``key``: stop it if the backend can (the processes backend kills the
        worker), else leave it to finish unobserved, and keep ``max_workers`` capacity for
        other work. Its report, if one still comes, will be ignored."""

    @abstractmethod
    def shutdown(self, wait: bool) -> None:
        """Release workers. ``wait=False`` must return promptly even if calls are stuck."""

    # -- optional: only called when `capabilities` says so ----------------------------------

    def withdraw(self, key: int) -> bool:
        """Take back a queued call if it has not begun, atomically with a worker beginning
        it: True means it will never run and reports nothing."""
        raise _undeclared(self, "withdraw")

    def resume(self) -> None:
        """The loop has handled every report ``wait()`` returned: queued calls held after a
        failure may begin again."""
        raise _undeclared(self, "resume")

    def watch_cancel(self, event: threading.Event) -> None:
        """Begin no queued call once ``event`` (the run's ``cancel_event``) is set."""
        raise _undeclared(self, "watch_cancel")

    def skip_started_notices(self) -> None:
        """Send no :class:`Started` reports in this run. Called before the first submit."""
        raise _undeclared(self, "skip_started_notices")

    def submit_many(self, items: Sequence[Call]) -> None:
        """:meth:`submit` for each ``(key, fn, args)`` of ``items``, in order."""
        raise _undeclared(self, "submit_many")

    def run_inline(self, key: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Completion:
        """Run one call on the calling thread and return its report."""
        raise _undeclared(self, "run_inline")

    def clock_offsets(self) -> dict[str, ClockOffset]:
        """Each worker's measured clock offset from this process's clock, by worker name."""
        raise _undeclared(self, "clock_offsets")

    def limit_memory(self, limit: int) -> None:
        """Restart a worker whose resident memory goes over ``limit`` bytes (its node fails
        with :class:`~dagron.errors.WorkerLostError`). Called before :meth:`start`; raises
        ``ValueError`` if the workers are not this backend's to set up."""
        raise _undeclared(self, "limit_memory")

    def interrupt(self) -> None:
        """Ctrl-C stopped the run (called before the loop cancels the unfinished keys and
        before :meth:`shutdown`): keep nothing of this run's workers for another run."""
        raise _undeclared(self, "interrupt")


def _undeclared(backend: Backend, method: str) -> TypeError:
    return TypeError(
        f"{type(backend).__qualname__}.{method}() was called, but the backend's capabilities "
        "do not declare it"
    )


class BackendSource(ABC):
    """Something that hands each run a backend: a cluster whose warm workers serve one run
    after another. ``DAGExecutor(dag, backend=source)`` calls :meth:`backend` once per run."""

    @abstractmethod
    def backend(self) -> Backend:
        """The backend for the next run."""
