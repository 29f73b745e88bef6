"""A trace in Chrome's Trace Event Format (JSON object form), for Perfetto
(https://ui.perfetto.dev) and ``chrome://tracing``: what ``Trace.to_chrome_trace`` and
``Trace.save`` return and write.

It reads a trace through :class:`ChromeTraceData` rather than :class:`~dagron.Trace` itself, so
that a trace can offer its own export by building on this module.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Union

from ._clock import ClockOffset
from .node_result import NodeStatus, TraceEvent
from .trace_lanes import Lane, pack_lanes
from .trace_profile import TraceData

__all__ = [
    "SCHEDULER_THREAD",
    "ChromeTraceData",
    "chrome_pids",
    "chrome_trace",
    "save_chrome_trace",
]

# Lane of the coordinator's own instant events (skips, cancellations) and of the whole run.
SCHEDULER_THREAD = "dagron scheduler"

_CNAME = {
    NodeStatus.FAILED: "terrible",
    NodeStatus.TIMED_OUT: "bad",
    NodeStatus.CANCELLED: "grey",
}

# (node, kind, time, (node, attempt) of the lane it goes on, or None for the scheduler's)
_Instant = tuple[str, str, float, Union[tuple[str, int], None]]


class ChromeTraceData(TraceData, Protocol):
    """What the export reads of a trace (:class:`~dagron.Trace` has it all)."""

    @property
    def statuses(self) -> dict[str, NodeStatus]: ...

    @property
    def events(self) -> list[TraceEvent]: ...

    @property
    def coordinator(self) -> str: ...

    @property
    def clock_offsets(self) -> dict[str, ClockOffset]: ...


def chrome_trace(trace: ChromeTraceData) -> dict[str, Any]:
    """The run in Chrome's Trace Event Format; ``Trace.to_chrome_trace`` describes it.

    >>> from dagron.node_result import Attempt
    >>> from dagron.tracing import Trace
    >>> a = Attempt("a", 1, NodeStatus.COMPLETED, 0.0, 2.0, 2.0, "h/w1")
    >>> t = Trace(started_at=0.0, finished_at=2.0, nodes=["a"], edges=[],
    ...           statuses={"a": NodeStatus.COMPLETED}, attempts=[a], coordinator="h/7")
    >>> [e["name"] for e in chrome_trace(t)["traceEvents"] if e["ph"] == "X"]
    ['a', 'run']
    """
    lanes = pack_lanes(trace.attempts)
    # Attempts of unknown workers go on a lane of the coordinator's process.
    procs = [lane.process if lane.worker is not None else trace.coordinator for lane in lanes]
    pids = chrome_pids([trace.coordinator, *procs])
    # Thread ids are unique across the whole trace and never equal a pid: viewers that
    # track threads system-wide (as Perfetto does) then never merge two lanes.
    taken = set(pids.values())
    tids = (t for t in itertools.count(1) if t not in taken)
    sched = (pids[trace.coordinator], next(tids))
    events: list[dict[str, Any]] = []
    named: set[int] = set()
    _name_process(events, named, pids[trace.coordinator], trace.coordinator)
    events.append(_meta("thread_name", *sched, {"name": SCHEDULER_THREAD}))
    events.append(_meta("thread_sort_index", *sched, {"sort_index": 0}))
    where: dict[tuple[str, int], tuple[int, int]] = {}  # (node, attempt) -> (pid, tid)
    for lane, process in zip(lanes, procs):
        pid = pids[process]
        _name_process(events, named, pid, process)
        _lane_events(events, trace.started_at, lane, pid, next(tids), where)
    events.append(_run_event(trace, sched))
    t0 = trace.started_at
    for name, kind, at, node_attempt in _instants(trace):
        pid, tid = where.get(node_attempt, sched) if node_attempt else sched
        events.append(
            {
                "name": f"{kind} {name}",
                "cat": kind,
                "ph": "i",
                "s": "t",
                "ts": round((at - t0) * 1e6, 3),
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
            "run_started_at": trace.started_at,
            "run_finished_at": trace.finished_at,
            "coordinator": trace.coordinator,
            "clock_offsets": {k: o._asdict() for k, o in trace.clock_offsets.items()},
        },
    }


def save_chrome_trace(trace: ChromeTraceData, path: Union[str, os.PathLike[str]]) -> Path:
    """Write :func:`chrome_trace` as compact JSON to ``path``; returns the path."""
    out = Path(path)
    with out.open("w", encoding="utf-8") as f:
        json.dump(chrome_trace(trace), f, separators=(",", ":"))
    return out


def chrome_pids(processes: Iterable[str]) -> dict[str, int]:
    """A Chrome ``pid`` per process: its real pid where the name carries a unique one, else a
    small number of its own.

    >>> chrome_pids(["h/1234", "h/1234", "far", "near/1"])
    {'h/1234': 1234, 'near/1': 1, 'far': 2}
    """
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


def _name_process(events: list[dict[str, Any]], named: set[int], pid: int, process: str) -> None:
    """The metadata naming ``process`` and placing it in order, once per pid."""
    if pid in named:
        return
    named.add(pid)
    events.append(_meta("process_name", pid, None, {"name": _process_label(process)}))
    events.append(_meta("process_sort_index", pid, None, {"sort_index": len(named)}))


def _lane_events(
    events: list[dict[str, Any]],
    t0: float,
    lane: Lane,
    pid: int,
    tid: int,
    where: dict[tuple[str, int], tuple[int, int]],
) -> None:
    """The metadata naming a lane and one complete event per attempt on it; records in
    ``where`` the lane of each (node, attempt), where its instant events go."""
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
            "ts": round((a.started_at - t0) * 1e6, 3),
            "dur": round(max(0.0, a.duration) * 1e6, 3),
            "pid": pid,
            "tid": tid,
            "args": args,
        }
        colour = _CNAME.get(a.status)
        if colour is not None:
            event["cname"] = colour
        events.append(event)


def _run_event(trace: ChromeTraceData, sched: tuple[int, int]) -> dict[str, Any]:
    """The complete event spanning the whole run, on the scheduler's lane."""
    return {
        "name": "run",
        "cat": "run",
        "ph": "X",
        "ts": 0.0,
        "dur": round((trace.finished_at - trace.started_at) * 1e6, 3),
        "pid": sched[0],
        "tid": sched[1],
        "args": {
            "nodes": len(trace.nodes),
            "started_at": trace.started_at,
            "finished_at": trace.finished_at,
        },
    }


def _instants(trace: ChromeTraceData) -> list[_Instant]:
    """The instant events: failures, retries, timeouts and cancellations of attempts on their
    lanes, then skips and cancellations of nodes that never ran on the scheduler's."""
    out = list(_attempt_instants(trace))
    seen: dict[str, float] = {}
    for ev in trace.events:
        if ev.event in ("skip", "cancel"):
            seen.setdefault(f"{ev.event} {ev.node}", trace.started_at + ev.at)
    ran_and_cancelled = {a.node for a in trace.attempts if a.status is NodeStatus.CANCELLED}
    for name in trace.nodes:
        status = trace.statuses.get(name)
        if status is NodeStatus.SKIPPED:
            out.append((name, "skip", seen.get(f"skip {name}", trace.finished_at), None))
        elif status is NodeStatus.CANCELLED and name not in ran_and_cancelled:
            out.append((name, "cancel", seen.get(f"cancel {name}", trace.finished_at), None))
    return out


def _attempt_instants(trace: ChromeTraceData) -> Iterator[_Instant]:
    last: dict[str, int] = {}
    for a in trace.attempts:
        last[a.node] = max(last.get(a.node, 0), a.attempt)
    for a in trace.attempts:
        retried = a.attempt < last[a.node]
        key = (a.node, a.attempt)
        if a.status is NodeStatus.TIMED_OUT:
            yield (a.node, "timeout", a.finished_at, key)
        elif a.status is NodeStatus.FAILED and not retried:
            yield (a.node, "failure", a.finished_at, key)
        elif a.status is NodeStatus.CANCELLED:
            yield (a.node, "cancel", a.finished_at, key)
        if retried:
            yield (a.node, "retry", a.finished_at, key)


def _process_label(process: str) -> str:
    host, sep, pid = process.rpartition("/")
    if sep and pid.isdigit():
        return f"{host} (pid {pid})"
    return process or "workers"


def _meta(name: str, pid: int, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "ph": "M", "pid": pid, "args": args}
    if tid is not None:
        event["tid"] = tid
    return event
