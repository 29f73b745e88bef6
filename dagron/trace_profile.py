"""The numbers of a profile, computed from a trace's data: critical path, bottlenecks,
slack, worker use and scheduling overhead (:mod:`dagron.profiling` explains each).

It reads a trace through :class:`TraceData` rather than :class:`~dagron.Trace` itself, so that
a trace can offer its own profile (``Trace.profile``) by building on this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ._core import DAG
from .node_result import Attempt, natural_key

__all__ = ["Bottleneck", "Profile", "TraceData", "WorkerUsage", "format_seconds", "profile_trace"]

# How many critical-path nodes get an exact "saving" (one O(V+E) pass in Rust each).
_CANDIDATES = 64


@dataclass(frozen=True)
class Bottleneck:
    """A node on the critical path: ``seconds`` it took (all attempts), and ``saving``, how
    much shorter the critical path would be if it took no time (less than ``seconds`` when
    another chain is nearly as long)."""

    node: str
    seconds: float
    saving: float


@dataclass(frozen=True)
class WorkerUsage:
    """How one worker spent the run: ``busy`` seconds running attempts (overlaps counted
    once), ``idle`` the rest of the makespan, ``tasks`` the attempts it ran."""

    worker: str
    busy: float
    idle: float
    tasks: int

    @property
    def utilisation(self) -> float:
        """busy / (busy + idle)."""
        total = self.busy + self.idle
        return self.busy / total if total > 0 else 0.0


@dataclass
class Profile:
    """What :func:`profile` found. ``summary()`` reads it out; ``to_dict()`` is JSON-ready."""

    makespan: float
    nodes: int
    executed: int
    critical_path: list[str]
    critical_path_seconds: float
    bottlenecks: list[Bottleneck]
    workers: list[WorkerUsage]
    n_workers: int
    busy_seconds: float
    parallel_efficiency: float
    durations: dict[str, float] = field(default_factory=dict)
    slack: dict[str, float] = field(default_factory=dict)
    waits: dict[str, float] = field(default_factory=dict)

    @property
    def scheduling_overhead(self) -> float:
        """Total seconds nodes spent between becoming ready and starting."""
        return sum(self.waits.values())

    @property
    def mean_wait(self) -> float:
        return self.scheduling_overhead / len(self.waits) if self.waits else 0.0

    @property
    def max_wait(self) -> float:
        return max(self.waits.values(), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Every number, in plain dicts and lists (``json.dumps`` takes it as it is)."""
        return {
            "makespan": self.makespan,
            "nodes": self.nodes,
            "executed": self.executed,
            "critical_path": list(self.critical_path),
            "critical_path_seconds": self.critical_path_seconds,
            "bottlenecks": [
                {"node": b.node, "seconds": b.seconds, "saving": b.saving} for b in self.bottlenecks
            ],
            "workers": [
                {
                    "worker": w.worker,
                    "busy": w.busy,
                    "idle": w.idle,
                    "tasks": w.tasks,
                    "utilisation": w.utilisation,
                }
                for w in self.workers
            ],
            "n_workers": self.n_workers,
            "busy_seconds": self.busy_seconds,
            "parallel_efficiency": self.parallel_efficiency,
            "scheduling_overhead": {
                "total": self.scheduling_overhead,
                "mean": self.mean_wait,
                "max": self.max_wait,
                "per_node": dict(self.waits),
            },
            "durations": dict(self.durations),
            "slack": dict(self.slack),
        }

    def summary(self, top: int = 5) -> str:
        """A readable report: totals, critical path, bottlenecks, workers, overhead."""
        lines = [
            f"run: {self.executed} of {self.nodes} nodes ran on {self.n_workers} worker(s) "
            f"in {format_seconds(self.makespan)}",
            f"parallel efficiency: {self.parallel_efficiency:.1%} "
            f"(busy {format_seconds(self.busy_seconds)} / ({self.n_workers} workers x "
            f"{format_seconds(self.makespan)}))",
        ]
        if self.critical_path:
            share = self.critical_path_seconds / self.makespan if self.makespan > 0 else 0.0
            path = " -> ".join(self.critical_path)
            lines.append(
                f"critical path: {format_seconds(self.critical_path_seconds)} "
                f"({share:.0%} of the run): {path}"
            )
        if self.bottlenecks:
            lines.append("bottlenecks (time the critical path loses if the node took none):")
            width = max(len(b.node) for b in self.bottlenecks[:top])
            for b in self.bottlenecks[:top]:
                lines.append(
                    f"  {b.node:<{width}}  took {format_seconds(b.seconds):>9}  "
                    f"saves {format_seconds(b.saving):>9}"
                )
        if self.workers:
            lines.append("workers:")
            width = max(len(w.worker) for w in self.workers)
            for w in self.workers:
                lines.append(
                    f"  {w.worker:<{width}}  busy {format_seconds(w.busy):>9}  "
                    f"idle {format_seconds(w.idle):>9}  {w.utilisation:>4.0%}  {w.tasks} task(s)"
                )
        if self.waits:
            worst = max(self.waits, key=lambda n: self.waits[n])
            lines.append(
                "scheduling overhead (ready -> started): "
                f"total {format_seconds(self.scheduling_overhead)}, "
                f"mean {format_seconds(self.mean_wait)}, "
                f"max {format_seconds(self.max_wait)} ({worst})"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


class TraceData(Protocol):
    """What a profile reads of a trace (:class:`~dagron.Trace` has it all)."""

    @property
    def started_at(self) -> float: ...

    @property
    def finished_at(self) -> float: ...

    @property
    def duration(self) -> float: ...

    @property
    def nodes(self) -> list[str]: ...

    @property
    def edges(self) -> list[tuple[str, str]]: ...

    @property
    def attempts(self) -> list[Attempt]: ...

    @property
    def slots(self) -> int | None: ...


def profile_trace(trace: TraceData, workers: int | None = None) -> Profile:
    """The profile of a trace; :func:`dagron.profile` explains ``workers``.

    >>> from dagron.node_result import NodeStatus
    >>> from dagron.tracing import Trace
    >>> a = Attempt("a", 1, NodeStatus.COMPLETED, 0.0, 2.0, 2.0, "h/w1")
    >>> t = Trace(started_at=0.0, finished_at=2.0, nodes=["a"], edges=[],
    ...           statuses={"a": NodeStatus.COMPLETED}, attempts=[a])
    >>> profile_trace(t).critical_path_seconds
    2.0
    """
    makespan = max(0.0, trace.duration)
    durations: dict[str, float] = dict.fromkeys(trace.nodes, 0.0)
    first_start: dict[str, float] = {}
    last_end: dict[str, float] = {}
    for a in trace.attempts:
        durations[a.node] = durations.get(a.node, 0.0) + max(0.0, a.duration)
        first_start[a.node] = min(first_start.get(a.node, a.started_at), a.started_at)
        last_end[a.node] = max(last_end.get(a.node, a.finished_at), a.finished_at)

    graph = DAG.builder().add_nodes(list(durations)).add_edges(trace.edges).build()
    length = graph.critical_path_length(durations) if durations else 0.0
    path = graph.critical_path(durations) if length > 0 else []
    on_path = [n for n in path if durations[n] > 0]
    on_path.sort(key=lambda n: -durations[n])
    bottlenecks = []
    for n in on_path[:_CANDIDATES]:
        took = durations[n]
        durations[n] = 0.0
        shorter = graph.critical_path_length(durations)
        durations[n] = took
        bottlenecks.append(Bottleneck(n, took, max(0.0, length - shorter)))
    bottlenecks.sort(key=lambda b: (-b.saving, -b.seconds))

    preds: dict[str, list[str]] = {n: [] for n in durations}
    for src, dst in trace.edges:
        preds[dst].append(src)
    waits: dict[str, float] = {}
    for n, start in first_start.items():
        ready = max((last_end.get(p, trace.started_at) for p in preds.get(n, ())), default=None)
        ready = trace.started_at if ready is None else ready
        waits[n] = max(0.0, start - ready)

    usage = _worker_usage(trace.attempts, trace.started_at, trace.finished_at)
    n_workers = workers if workers is not None else len(usage)
    if workers is None and trace.slots is not None:
        n_workers = min(n_workers, trace.slots)
    busy = sum(w.busy for w in usage)
    efficiency = busy / (n_workers * makespan) if n_workers and makespan > 0 else 0.0
    return Profile(
        makespan=makespan,
        nodes=len(trace.nodes),
        executed=len(first_start),
        critical_path=path,
        critical_path_seconds=length,
        bottlenecks=bottlenecks,
        workers=usage,
        n_workers=n_workers,
        busy_seconds=busy,
        parallel_efficiency=efficiency,
        durations=durations,
        slack=_slack(graph.topological_sort(), trace.edges, durations, length),
        waits=waits,
    )


def _worker_usage(attempts: list[Attempt], begin: float, end: float) -> list[WorkerUsage]:
    """Busy time per worker: the union of its attempts' [start, end] within the run."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for a in attempts:
        if a.worker is not None:
            spans.setdefault(a.worker, []).append((a.started_at, a.finished_at))
    makespan = max(0.0, end - begin)
    out = []
    for worker in sorted(spans, key=natural_key):
        busy = 0.0
        cur_start = cur_end = None
        for s, e in sorted(spans[worker]):
            s, e = max(s, begin), min(e, end)
            if e <= s:
                continue
            if cur_end is None or s > cur_end:
                if cur_end is not None and cur_start is not None:
                    busy += cur_end - cur_start
                cur_start, cur_end = s, e
            else:
                cur_end = max(cur_end, e)
        if cur_end is not None and cur_start is not None:
            busy += cur_end - cur_start
        out.append(WorkerUsage(worker, busy, max(0.0, makespan - busy), len(spans[worker])))
    return out


def _slack(
    nodes: list[str], edges: list[tuple[str, str]], cost: dict[str, float], length: float
) -> dict[str, float]:
    """Per node: critical path length minus the heaviest path through the node (``nodes``
    in topological order)."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        preds[dst].append(src)
        succs[src].append(dst)
    head: dict[str, float] = {}  # heaviest path ending with the node, inclusive
    for n in nodes:  # nodes are in topological order
        head[n] = max((head[p] for p in preds[n]), default=0.0) + cost[n]
    tail: dict[str, float] = {}  # heaviest path starting with the node, inclusive
    for n in reversed(nodes):
        tail[n] = max((tail[s] for s in succs[n]), default=0.0) + cost[n]
    return {n: max(0.0, length - (head[n] + tail[n] - cost[n])) for n in nodes}


def format_seconds(seconds: float) -> str:
    """Seconds in a unit that reads well: ``1.234 s``, ``12.3 ms``, ``45 us``.

    >>> format_seconds(1.2345), format_seconds(0.0123), format_seconds(4.5e-5)
    ('1.234 s', '12.3 ms', '45 us')
    """
    if seconds >= 1.0 or seconds == 0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"
