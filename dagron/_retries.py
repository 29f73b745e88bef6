"""Retries of failed attempts: how many a node gets, and those waiting out a delay.

A node waiting for its retry stays "running" in the ReadySet and is requeued when its delay
has passed; its last failure is kept meanwhile, to become its result if the run stops first.
"""

from __future__ import annotations

import heapq
from typing import Callable, Union

from .node_result import NodeResult

RetryDelay = Union[float, Callable[[int], float]]


class Retries:
    """Retry policy of a run: ``counts[i]`` retries for node ``i`` (none when ``counts`` is
    None), each after ``delay`` seconds, or ``delay(attempt)`` seconds for a backoff."""

    def __init__(self, counts: list[int] | None, delay: RetryDelay) -> None:
        self.counts = counts
        self.delay = delay
        # (due, index) min-heap of the nodes waiting out their delay, monotonic times
        self.waiting: list[tuple[float, int]] = []
        self.last_failure: dict[int, NodeResult] = {}

    def allows(self, i: int, attempts: int) -> bool:
        """Whether node ``i`` gets another attempt after ``attempts`` of them failed."""
        return self.counts is not None and attempts <= self.counts[i]

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 for the first retry)."""
        d = self.delay
        return float(d(attempt)) if callable(d) else float(d)

    def hold(self, i: int, due: float, failure: NodeResult) -> None:
        """Node ``i`` failed with ``failure`` and is retried at ``due``."""
        self.last_failure[i] = failure
        heapq.heappush(self.waiting, (due, i))

    def release(self, now: float) -> list[int]:
        """Take off the nodes whose retry is due at ``now``, soonest first."""
        out: list[int] = []
        waiting = self.waiting
        while waiting and waiting[0][0] <= now:
            _, i = heapq.heappop(waiting)
            self.last_failure.pop(i, None)
            out.append(i)
        return out

    def next(self) -> float | None:
        """When the soonest retry is due, if any is waiting."""
        return self.waiting[0][0] if self.waiting else None

    def abandon(self) -> list[tuple[int, NodeResult]]:
        """Give up every waiting retry; returns (node, last failure) pairs in node order."""
        order = sorted(i for _, i in self.waiting)
        out = [(i, self.last_failure.pop(i)) for i in order]
        self.waiting = []
        return out

    def clear(self) -> None:
        """Drop every waiting retry (the run was cancelled)."""
        self.waiting = []
