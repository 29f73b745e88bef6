"""A run's node results as a trace's :class:`~dagron.node_result.Attempt` s: one per try
that has times, plus, for a node cancelled in flight without stamps, one spanning its dispatch
to its cancellation."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

from .node_result import Attempt, NodeResult, NodeStatus, TraceEvent, describe_error

__all__ = ["attempt_of", "attempts_from_results"]


def attempts_from_results(
    results: Mapping[str, NodeResult],
    earlier_attempts: Iterable[NodeResult],
    events: Sequence[TraceEvent],
    started_at: float | None,
) -> list[Attempt]:
    """The attempts of every node in ``results`` (each node's own result is its last try,
    ``earlier_attempts`` the tries that were retried), node by node, first try to last."""
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
            a = attempt_of(e, n)
            if a is not None:
                attempts.append(a)
        if r.attempts > len(tries):
            last = attempt_of(r, r.attempts)
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
    return attempts


def attempt_of(r: NodeResult, n: int) -> Attempt | None:
    """Try ``n`` of a node from its result, or None if the result has no times."""
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
