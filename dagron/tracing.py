"""What happened in a run, when and where: ``ExecutionResult.trace`` with ``enable_tracing=True``.

A :class:`Trace` holds one :class:`Attempt` per try of every node (start, end, status, the
worker it ran on), the run's start and end, the coordinator's scheduling events
(:class:`~dagron.node_result.TraceEvent`) and the DAG's nodes and edges, so a run can be profiled
(:mod:`dagron.profiling`), drawn (:mod:`dagron.timeline`) or exported to Chrome's Trace Event
Format for Perfetto and ``chrome://tracing`` (:meth:`Trace.to_chrome_trace`).

Clocks: every time is on the coordinator's timeline (:mod:`dagron._clock`: its monotonic
clock plus the wall-clock reading at the run's start). Attempt times are taken where the task
ran: worker processes measure their clock's offset from the coordinator's over the heartbeat
channel and stamp on its clock (:mod:`dagron.workers.clocksync`); the measured offsets and
their error bounds are :attr:`Trace.clock_offsets`. Only for workers that were not measured
(Dask workers on other hosts), as a last resort, when a host's stamps are causally impossible
(a task that finished after the coordinator heard of it, or started before it was sent) the
trace shifts that host's times by the smallest offset that makes them possible, and records
it there too (``measured=False``); ``NodeResult`` times are never changed by a trace.

The parts live below this module: the export in :mod:`dagron.chrome_trace`, the lanes in
:mod:`dagron.trace_lanes`, the inferred alignment in :mod:`dagron.clock_alignment` and the
attempts built from node results in :mod:`dagron.trace_attempts`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Union,
)

from . import _clock
from ._clock import ClockOffset
from .callbacks import HOOKS, ExecutionCallbacks
from .chrome_trace import SCHEDULER_THREAD as SCHEDULER_THREAD
from .chrome_trace import chrome_trace, save_chrome_trace
from .clock_alignment import align_attempts
from .node_result import Attempt, NodeResult, NodeStatus, TraceEvent, natural_key
from .trace_attempts import attempts_from_results
from .trace_lanes import UNKNOWN_WORKER as UNKNOWN_WORKER
from .trace_lanes import Lane, pack_lanes
from .trace_profile import Profile, profile_trace

if TYPE_CHECKING:
    from .result import ExecutionResult

__all__ = ["Attempt", "ClockOffset", "Lane", "Trace", "TraceEvent"]


class Trace:
    """A traced run: attempts, scheduling events, the run's start and end, and the graph.

    Iterating a Trace yields its :class:`~dagron.node_result.TraceEvent` s (``at`` in seconds since
    the run began on the coordinator's clock, ``event`` one of ``start``, ``complete``,
    ``failure``, ``retry``, ``timeout``, ``skip``, ``cancel``).

    >>> import dagron
    >>> dag = dagron.DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").build()
    >>> result = dagron.DAGExecutor(dag, enable_tracing=True).execute(
    ...     {"a": lambda: 1, "b": lambda: 2})
    >>> [(a.node, a.status.value) for a in result.trace.attempts]
    [('a', 'completed'), ('b', 'completed')]
    >>> sorted({e["ph"] for e in result.trace.to_chrome_trace()["traceEvents"]})
    ['M', 'X']
    """

    def __init__(
        self,
        *,
        started_at: float,
        finished_at: float,
        nodes: Sequence[str],
        edges: Iterable[tuple[str, str]],
        statuses: Mapping[str, NodeStatus],
        attempts: Iterable[Attempt],
        events: Iterable[TraceEvent] = (),
        coordinator: str | None = None,
        clock_offsets: Mapping[str, ClockOffset] | None = None,
        slots: int | None = None,
    ) -> None:
        self.started_at = started_at
        self.finished_at = finished_at
        self.nodes = list(nodes)
        self.edges = [(a, b) for a, b in edges]
        self.statuses = dict(statuses)
        self.attempts = list(attempts)
        self.events = list(events)
        self.coordinator = coordinator if coordinator is not None else _here()
        #: per worker process, how far its clock ran ahead of the coordinator's, as measured
        #: (:class:`~dagron._clock.ClockOffset`: ``offset`` and ``error`` in seconds, already
        #: taken out of its stamps); per host, an offset the trace inferred and took out of
        #: that host's attempts (``measured=False``); empty for threads
        self.clock_offsets = dict(clock_offsets or {})
        #: how many calls the run could have running at once (``max_workers``, or a cluster's
        #: worker count), if known; the profile counts at most this many workers
        self.slots = slots

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_results(
        cls,
        node_results: Union[Mapping[str, NodeResult], ExecutionResult],
        edges: Iterable[tuple[str, str]],
        *,
        started_at: float | None = None,
        finished_at: float | None = None,
        earlier_attempts: Iterable[NodeResult] = (),
        events: Iterable[TraceEvent] = (),
        coordinator: str | None = None,
        align_clocks: bool = True,
        clock_offsets: Mapping[str, ClockOffset] | None = None,
        slots: int | None = None,
    ) -> Trace:
        """A trace from node results (in topological order) and the DAG's edges.

        ``earlier_attempts`` are the results of tries that were retried (a node's own
        ``NodeResult`` is its last try). ``started_at``/``finished_at`` default to the
        earliest start and latest end among the results. ``events`` are the coordinator's
        scheduling events; with them, the stamps of remote hosts whose workers are not in
        ``clock_offsets`` (the offsets measured during the run, by worker) are checked and
        if need be aligned (``align_clocks``).

        >>> a = NodeResult("a", NodeStatus.COMPLETED, started_at=10.0, finished_at=12.0,
        ...                duration_seconds=2.0, attempts=1, worker="h/w1")
        >>> Trace.from_results({"a": a}, []).attempts[0].duration
        2.0
        """
        results = getattr(node_results, "node_results", node_results)
        assert isinstance(results, Mapping)
        events = list(events)
        attempts = attempts_from_results(results, earlier_attempts, events, started_at)
        if started_at is None:
            started_at = min((a.started_at for a in attempts), default=0.0)
        if finished_at is None:
            finished_at = max((a.finished_at for a in attempts), default=started_at)
        coordinator = coordinator if coordinator is not None else _here()
        ran = {a.worker for a in attempts}
        measured = {w: o for w, o in (clock_offsets or {}).items() if w in ran}
        offsets: dict[str, ClockOffset] = dict(measured)
        if align_clocks and events:
            attempts, inferred = align_attempts(
                attempts, events, started_at, coordinator.split("/")[0], measured
            )
            offsets.update(inferred)
        return cls(
            started_at=started_at,
            finished_at=finished_at,
            nodes=list(results),
            edges=edges,
            statuses={name: r.status for name, r in results.items()},
            attempts=attempts,
            events=events,
            coordinator=coordinator,
            clock_offsets=offsets,
            slots=slots,
        )

    # -- reading ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        return True  # a trace of a run with no events is still a trace

    def __repr__(self) -> str:
        return (
            f"<Trace: {len(self.nodes)} nodes, {len(self.attempts)} attempts on "
            f"{len(self.workers)} workers, {self.duration:.3f} s>"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def duration(self) -> float:
        """The run's wall time in seconds (its makespan)."""
        return self.finished_at - self.started_at

    @property
    def workers(self) -> list[str]:
        """Every worker that ran an attempt, in natural order (``w2`` before ``w10``)."""
        return sorted({a.worker for a in self.attempts if a.worker is not None}, key=natural_key)

    def attempts_of(self, node: str) -> list[Attempt]:
        """The attempts of ``node``, first to last."""
        return [a for a in self.attempts if a.node == node]

    def event_time(self, event: TraceEvent) -> float:
        """The wall-clock stamp of a scheduling event."""
        return self.started_at + event.at

    def lanes(self) -> list[Lane]:
        """One lane per worker (plus sub-lanes where its attempts overlap), grouped by process
        or host, in natural order; attempts of unknown workers go last on one lane."""
        return pack_lanes(self.attempts)

    # -- exporting --------------------------------------------------------------------------

    def to_chrome_trace(self) -> dict[str, Any]:
        """The run in Chrome's Trace Event Format (JSON object form), for Perfetto
        (https://ui.perfetto.dev) and ``chrome://tracing``.

        One complete (``"X"``) event per attempt, named after its node, on the lane of the
        worker that ran it: ``pid`` is the worker's process (the real pid for threads) or
        host, ``tid`` its thread or worker process; metadata (``"M"``) events name every
        process and lane. Instant (``"i"``) events mark failures, retries, timeouts, skips and
        cancellations; a ``"run"`` event on the ``dagron scheduler`` lane spans the whole run.
        Timestamps are microseconds since the run started.
        """
        return chrome_trace(self)

    def save(self, path: Union[str, os.PathLike[str]]) -> Path:
        """Write :meth:`to_chrome_trace` as JSON to ``path`` (open it in Perfetto or
        ``chrome://tracing``); returns the path."""
        return save_chrome_trace(self, path)

    def profile(self, workers: int | None = None) -> Profile:
        """:func:`dagron.profile` of this trace."""
        return profile_trace(self, workers)


class Recorder:
    """Records the coordinator's scheduling events as :class:`TraceEvent` s (through the
    callback hooks, so a run without tracing pays nothing) and builds the run's
    :class:`Trace`."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.started_at = _clock.now()
        self.slots: int | None = None  # set by the executor when it knows
        self.clock_offsets: dict[str, ClockOffset] = {}  # measured by the backend, by worker

    def callbacks(self) -> ExecutionCallbacks:
        return ExecutionCallbacks(**{hook: self._recorder(hook[3:]) for hook in HOOKS})

    def _recorder(self, event: str) -> Callable[..., None]:
        append, clock, t0, new = self.events.append, _clock.now, self.started_at, tuple.__new__

        def record(name: str, *_: Any) -> None:
            # tuple.__new__ skips the NamedTuple's Python-level __new__ (a frame per event)
            append(new(TraceEvent, (clock() - t0, name, event)))

        return record

    def build(
        self,
        results: Mapping[str, NodeResult],
        edges: Iterable[tuple[str, str]],
        earlier_attempts: Iterable[NodeResult],
    ) -> Trace:
        return Trace.from_results(
            results,
            edges,
            started_at=self.started_at,
            finished_at=_clock.now(),
            earlier_attempts=earlier_attempts,
            events=self.events,
            clock_offsets=self.clock_offsets,
            slots=self.slots,
        )


def _here() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"
