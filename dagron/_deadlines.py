"""Timeouts of the attempts in flight: when each must end, and which are past it.

Attempts are named by their run key (see :mod:`dagron._run`); the caller passes its
``current`` list (``current[i]`` is the key of node ``i``'s attempt in flight, -1 when none)
so an attempt that finished or was abandoned is recognised without being removed here: its
heap entry is dropped when it comes up. A node's clock is re-armed when a later started
notice says its call really began; the superseded entry is recognised by its deadline.
"""

from __future__ import annotations

import heapq
from typing import Sequence

from . import _clock


class Deadlines:
    """Deadlines of the attempts of a run whose node ``i`` has ``timeouts[i]`` seconds (None:
    no limit) per attempt, all times monotonic."""

    def __init__(self, timeouts: Sequence[float | None]) -> None:
        self.timeouts = timeouts
        self.n = len(timeouts)
        # (deadline, key) min-heap; entries of finished attempts are dropped lazily.
        self.heap: list[tuple[float, int]] = []
        # node -> (wall-clock start, monotonic start, monotonic deadline) of its last timed
        # attempt, kept after it ends (a cancelled node reports when it started).
        self.clock: dict[int, tuple[float, float, float]] = {}

    def arm(self, i: int, key: int, timeout: float, now: float) -> None:
        """Attempt ``key`` of node ``i`` began at ``now``: it must end within ``timeout``
        (``timeouts[i]``, which the caller has read to know it is not None)."""
        deadline = now + timeout
        self.clock[i] = (_clock.wall(now), now, deadline)
        heapq.heappush(self.heap, (deadline, key))

    def due(self, now: float, current: list[int]) -> list[int]:
        """Take off the keys of the attempts still in flight whose deadline is ``now`` or
        earlier, soonest first."""
        out: list[int] = []
        heap = self.heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self._live(deadline, key, current):
                out.append(key)
        return out

    def next(self, current: list[int]) -> float | None:
        """The soonest deadline of an attempt still in flight, if any."""
        heap = self.heap
        while heap and not self._live(heap[0][0], heap[0][1], current):
            heapq.heappop(heap)  # that attempt finished before its deadline
        return heap[0][0] if heap else None

    def began(self, i: int) -> tuple[float, float]:
        """(wall-clock, monotonic) start of node ``i``'s last timed attempt."""
        wall, mono, _ = self.clock[i]
        return wall, mono

    def started_at(self, i: int) -> float | None:
        """Wall-clock start of node ``i``'s last timed attempt, None if it had none."""
        entry = self.clock.get(i)
        return None if entry is None else entry[0]

    def clear(self) -> None:
        """Forget every deadline (the run was cancelled); start times are kept."""
        self.heap = []

    def _live(self, deadline: float, key: int, current: list[int]) -> bool:
        # in flight, and not re-armed since (a started notice moves the deadline)
        i = key % self.n
        return current[i] == key and self.clock[i][2] == deadline
