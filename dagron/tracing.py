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
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from collections import defaultdict
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    NamedTuple,
    Sequence,
    Union,
)
from urllib.parse import urlsplit

from . import _clock
from ._clock import ClockOffset
from .callbacks import HOOKS, ExecutionCallbacks
from .node_result import Attempt, NodeResult, NodeStatus, TraceEvent, describe_error, natural_key
from .trace_profile import Profile, profile_trace

if TYPE_CHECKING:
    from .result import ExecutionResult

__all__ = ["Attempt", "ClockOffset", "Lane", "Trace", "TraceEvent"]

# Lane of the coordinator's own instant events (skips, cancellations) and of the whole run.
SCHEDULER_THREAD = "dagron scheduler"
# Lane of attempts whose worker is not known (a thread abandoned at its timeout).
UNKNOWN_WORKER = "(worker unknown)"

# The outcome events of an attempt, in the order the coordinator records them.
_OUTCOMES = frozenset({"complete", "failure", "retry", "timeout"})


class Lane(NamedTuple):
    """One row of a picture of the run: a worker (a thread or a worker process), split in
    sub-lanes only if it ran overlapping attempts (coroutines on one event loop)."""

    worker: str | None  # the NodeResult.worker string, None for unknown
    process: str  # the part naming the process or host, e.g. "host/1234" or "host"
    thread: str  # the part naming the thread or worker, e.g. "dagron-worker-0" or "w1"
    sub: int  # 0, or 1, 2, ... for the extra rows of overlapping attempts
    attempts: tuple[Attempt, ...]

    @property
    def label(self) -> str:
        """``host/pid/thread`` or ``host/wN`` (with ``#2`` ... for sub-lanes)."""
        base = self.worker if self.worker is not None else UNKNOWN_WORKER
        return base if self.sub == 0 else f"{base} #{self.sub + 1}"


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
        if any(r.status is NodeStatus.CANCELLED for r in results.values()):
            starts, cancels = _dispatch_and_cancel_times(events)
        else:
            starts, cancels = {}, {}
        by_node: dict[str, list[NodeResult]] = defaultdict(list)
        for r in earlier_attempts:
            by_node[r.name].append(r)
        attempts: list[Attempt] = []
        for name, r in results.items():
            tries = by_node.get(name, [])
            for n, e in enumerate(tries, 1):
                a = _attempt(e, n)
                if a is not None:
                    attempts.append(a)
            if r.attempts > len(tries):
                last = _attempt(r, r.attempts)
                sent = starts.get(name)
                if (
                    last is None
                    and r.status is NodeStatus.CANCELLED
                    and started_at is not None
                    and sent
                    and name in cancels
                ):
                    # Cancelled in flight without stamps: it ran from its dispatch to the cancel.
                    begin, end = started_at + sent[-1], started_at + cancels[name]
                    last = Attempt(
                        name, r.attempts, r.status, begin, end, max(0.0, end - begin), r.worker
                    )
                if last is not None:
                    attempts.append(last)
        if started_at is None:
            started_at = min((a.started_at for a in attempts), default=0.0)
        if finished_at is None:
            finished_at = max((a.finished_at for a in attempts), default=started_at)
        coordinator = coordinator if coordinator is not None else _here()
        ran = {a.worker for a in attempts}
        measured = {w: o for w, o in (clock_offsets or {}).items() if w in ran}
        offsets: dict[str, ClockOffset] = dict(measured)
        if align_clocks and events:
            inferred = _clock_offsets(
                [a for a in attempts if a.worker not in measured],
                events,
                started_at,
                coordinator.split("/")[0],
            )
            if inferred:
                attempts = [a if a.worker in measured else _shift(a, inferred) for a in attempts]
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
        by_worker: dict[str | None, list[Attempt]] = defaultdict(list)
        for a in self.attempts:
            by_worker[a.worker].append(a)
        order = sorted(
            by_worker,
            key=lambda w: (w is None, natural_key(_split(w)[0]), natural_key(_split(w)[1])),
        )
        lanes: list[Lane] = []
        for worker in order:
            process, thread = _split(worker)
            rows: list[list[Attempt]] = []
            ends: list[float] = []
            for a in sorted(by_worker[worker], key=lambda a: (a.started_at, a.finished_at)):
                for k, end in enumerate(ends):
                    if a.started_at >= end:
                        rows[k].append(a)
                        ends[k] = a.finished_at
                        break
                else:
                    rows.append([a])
                    ends.append(a.finished_at)
            for sub, row in enumerate(rows):
                lanes.append(Lane(worker, process, thread, sub, tuple(row)))
        return lanes

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
        t0 = self.started_at

        def us(t: float) -> float:
            return round((t - t0) * 1e6, 3)

        lanes = self.lanes()
        # Attempts of unknown workers go on a lane of the coordinator's process.
        procs = [lane.process if lane.worker is not None else self.coordinator for lane in lanes]
        pids = _pids([self.coordinator, *procs])
        # Thread ids are unique across the whole trace and never equal a pid: viewers that
        # track threads system-wide (as Perfetto does) then never merge two lanes.
        taken = set(pids.values())
        tids = (t for t in itertools.count(1) if t not in taken)
        sched = (pids[self.coordinator], next(tids))
        events: list[dict[str, Any]] = []
        named: set[int] = set()

        def name_process(process: str) -> None:
            pid = pids[process]
            if pid in named:
                return
            named.add(pid)
            events.append(_meta("process_name", pid, None, {"name": _process_label(process)}))
            events.append(_meta("process_sort_index", pid, None, {"sort_index": len(named)}))

        name_process(self.coordinator)
        events.append(_meta("thread_name", *sched, {"name": SCHEDULER_THREAD}))
        events.append(_meta("thread_sort_index", *sched, {"sort_index": 0}))
        where: dict[tuple[str, int], tuple[int, int]] = {}  # (node, attempt) -> (pid, tid)
        for lane, process in zip(lanes, procs):
            name_process(process)
            pid = pids[process]
            tid = next(tids)
            label = lane.thread if lane.sub == 0 else f"{lane.thread} #{lane.sub + 1}"
            events.append(_meta("thread_name", pid, tid, {"name": label}))
            events.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
            for a in lane.attempts:
                where[a.node, a.attempt] = (pid, tid)
                args: dict[str, Any] = {
                    "node": a.node,
                    "attempt": a.attempt,
                    "status": a.status.value,
                    "worker": a.worker,
                    "started_at": a.started_at,
                    "finished_at": a.finished_at,
                }
                if a.error is not None:
                    args["error"] = a.error
                event = {
                    "name": a.node,
                    "cat": "node",
                    "ph": "X",
                    "ts": us(a.started_at),
                    "dur": round(max(0.0, a.duration) * 1e6, 3),
                    "pid": pid,
                    "tid": tid,
                    "args": args,
                }
                colour = _CNAME.get(a.status)
                if colour is not None:
                    event["cname"] = colour
                events.append(event)
        events.append(
            {
                "name": "run",
                "cat": "run",
                "ph": "X",
                "ts": 0.0,
                "dur": us(self.finished_at),
                "pid": sched[0],
                "tid": sched[1],
                "args": {
                    "nodes": len(self.nodes),
                    "started_at": self.started_at,
                    "finished_at": self.finished_at,
                },
            }
        )
        for name, kind, at, node_attempt in self._instants():
            pid, tid = where.get(node_attempt, sched) if node_attempt else sched
            events.append(
                {
                    "name": f"{kind} {name}",
                    "cat": kind,
                    "ph": "i",
                    "s": "t",
                    "ts": us(at),
                    "pid": pid,
                    "tid": tid,
                    "args": {"node": name},
                }
            )
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {
                "producer": "dagron",
                "run_started_at": self.started_at,
                "run_finished_at": self.finished_at,
                "coordinator": self.coordinator,
                "clock_offsets": {k: o._asdict() for k, o in self.clock_offsets.items()},
            },
        }

    def save(self, path: Union[str, os.PathLike[str]]) -> Path:
        """Write :meth:`to_chrome_trace` as JSON to ``path`` (open it in Perfetto or
        ``chrome://tracing``); returns the path."""
        out = Path(path)
        with out.open("w", encoding="utf-8") as f:
            json.dump(self.to_chrome_trace(), f, separators=(",", ":"))
        return out

    def profile(self, workers: int | None = None) -> Profile:
        """:func:`dagron.profile` of this trace."""
        return profile_trace(self, workers)

    # -- internals --------------------------------------------------------------------------

    def _instants(self) -> list[tuple[str, str, float, tuple[str, int] | None]]:
        """(node, kind, time, (node, attempt) of the lane or None for the scheduler)."""
        out: list[tuple[str, str, float, tuple[str, int] | None]] = []
        last: dict[str, int] = {}
        for a in self.attempts:
            last[a.node] = max(last.get(a.node, 0), a.attempt)
        for a in self.attempts:
            retried = a.attempt < last[a.node]
            key = (a.node, a.attempt)
            if a.status is NodeStatus.TIMED_OUT:
                out.append((a.node, "timeout", a.finished_at, key))
            elif a.status is NodeStatus.FAILED and not retried:
                out.append((a.node, "failure", a.finished_at, key))
            elif a.status is NodeStatus.CANCELLED:
                out.append((a.node, "cancel", a.finished_at, key))
            if retried:
                out.append((a.node, "retry", a.finished_at, key))
        seen: dict[str, float] = {}
        for ev in self.events:
            if ev.event in ("skip", "cancel"):
                seen.setdefault(f"{ev.event} {ev.node}", self.event_time(ev))
        ran_and_cancelled = {a.node for a in self.attempts if a.status is NodeStatus.CANCELLED}
        for name in self.nodes:
            status = self.statuses.get(name)
            if status is NodeStatus.SKIPPED:
                out.append((name, "skip", seen.get(f"skip {name}", self.finished_at), None))
            elif status is NodeStatus.CANCELLED and name not in ran_and_cancelled:
                out.append((name, "cancel", seen.get(f"cancel {name}", self.finished_at), None))
        return out


_CNAME = {
    NodeStatus.FAILED: "terrible",
    NodeStatus.TIMED_OUT: "bad",
    NodeStatus.CANCELLED: "grey",
}


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


def _dispatch_and_cancel_times(
    events: Iterable[TraceEvent],
) -> tuple[dict[str, list[float]], dict[str, float]]:
    starts: dict[str, list[float]] = defaultdict(list)
    cancels: dict[str, float] = {}
    for ev in events:
        if ev.event == "start":
            starts[ev.node].append(ev.at)
        elif ev.event == "cancel":
            cancels[ev.node] = ev.at
    return starts, cancels


def _here() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def _attempt(r: NodeResult, n: int) -> Attempt | None:
    if r.started_at is None or r.finished_at is None:
        return None
    took = r.duration_seconds
    if r.status is NodeStatus.CANCELLED:  # abandoned mid-call: it ran until the cancel
        took = max(0.0, r.finished_at - r.started_at)
    return Attempt(
        r.name,
        n,
        r.status,
        r.started_at,
        r.finished_at,
        took,
        r.worker,
        describe_error(r.error) if r.error is not None else None,
    )


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _host(worker: str) -> str:
    """The host part of a worker name: ``host/...``, or an address ``tcp://host:port/...``
    (Dask workers)."""
    if "://" in worker:
        return urlsplit(worker).hostname or worker
    return worker.split("/", 1)[0]


def _clock_offsets(
    attempts: Sequence[Attempt], events: Sequence[TraceEvent], t0: float, local_host: str
) -> dict[str, ClockOffset]:
    """Per remote host, the offset of its clock from the coordinator's, when its stamps show
    one: a completed attempt must have started after the coordinator sent it and finished
    before the coordinator heard back. With ``d`` the send time and ``c`` the receipt time
    (coordinator clock), ``s`` and ``f`` the worker's stamps, the host's offset lies in
    ``[f - c, s - d]``; take the value nearest 0 (none when 0 fits). Its error is the width
    of that interval (or, if no single offset fits, half the gap)."""
    workers = {a.worker for a in attempts if a.worker is not None}
    remote = {h for h in map(_host, workers) if h != local_host and h not in _LOOPBACK}
    if not remote:
        return {}
    sent: dict[str, list[float]] = defaultdict(list)
    heard: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        if ev.event == "start":
            sent[ev.node].append(t0 + ev.at)
        elif ev.event in _OUTCOMES:
            heard[ev.node].append(t0 + ev.at)
    bounds: dict[str, list[float]] = {}
    for a in attempts:
        if a.worker is None or a.status is not NodeStatus.COMPLETED:
            continue
        host = _host(a.worker)
        if host == local_host or host in _LOOPBACK:
            continue
        k = a.attempt - 1
        d, c = sent.get(a.node, []), heard.get(a.node, [])
        if k >= len(d) or k >= len(c):
            continue
        lo_hi = bounds.setdefault(host, [-float("inf"), float("inf")])
        lo_hi[0] = max(lo_hi[0], a.finished_at - c[k])
        lo_hi[1] = min(lo_hi[1], a.started_at - d[k])
    offsets: dict[str, ClockOffset] = {}
    for host, (lo, hi) in bounds.items():
        if lo > hi:  # no single offset fits (a clock stepped mid-run): split the difference
            offsets[host] = ClockOffset((lo + hi) / 2, (lo - hi) / 2, measured=False)
        elif lo > 0:
            offsets[host] = ClockOffset(lo, hi - lo, measured=False)
        elif hi < 0:
            offsets[host] = ClockOffset(hi, hi - lo, measured=False)
    return offsets


def _shift(a: Attempt, offsets: Mapping[str, ClockOffset]) -> Attempt:
    if a.worker is None:
        return a
    found = offsets.get(_host(a.worker))
    if found is None:
        return a
    delta = found.offset
    return a._replace(started_at=a.started_at - delta, finished_at=a.finished_at - delta)


def _split(worker: str | None) -> tuple[str, str]:
    """(process, thread) parts of a worker name: ``host/pid/thread`` gives
    ``("host/pid", "thread")``, ``host/wN`` gives ``("host", "wN")``."""
    if worker is None:
        return "", UNKNOWN_WORKER
    head, sep, tail = worker.rpartition("/")
    return (head, tail) if sep else ("", worker)


def _process_label(process: str) -> str:
    host, sep, pid = process.rpartition("/")
    if sep and pid.isdigit():
        return f"{host} (pid {pid})"
    return process or "workers"


def _pids(processes: Iterable[str]) -> dict[str, int]:
    """A Chrome ``pid`` per process: its real pid where the name carries a unique one, else a
    small number of its own."""
    unique = list(dict.fromkeys(processes))
    real: dict[str, int] = {}
    taken: set[int] = set()
    for p in unique:
        tail = p.rpartition("/")[2]
        if tail.isdigit() and int(tail) not in taken:
            real[p] = int(tail)
            taken.add(int(tail))
    n = 1
    for p in unique:
        if p not in real:
            while n in taken:
                n += 1
            real[p] = n
            taken.add(n)
    return real


def _meta(name: str, pid: int, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "ph": "M", "pid": pid, "args": args}
    if tid is not None:
        event["tid"] = tid
    return event
