"""The coordinator's decisions as a pure state machine: events in, instructions out.

No sockets, no clock, no threads: :class:`CoordinatorState` is driven by plain method calls
(one per event) and answers with a list of instructions for the I/O layer to carry out. That
keeps the hard part (who runs what, what a lost worker means) testable without processes.

Flow control: every worker holds up to ``prefetch`` tasks (the one it runs plus the ones queued
behind it), so its next task is already there when one finishes. When tasks turn out to be
short, a worker holds more, up to ``max_prefetch``: about ``queue_seconds`` of work at the
mean task duration seen so far, so that messages carry many tasks each while no worker sits
on much work another could do. A worker is topped up when it is down to half of that, and
tasks handed out together to one worker travel as one batch.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Optional, Union

__all__ = [
    "CancelOnWorker",
    "CoordinatorState",
    "Dispatch",
    "KillWorker",
    "TaskLost",
    "WorkerSlot",
]

WorkerId = bytes


@dataclass(frozen=True)
class Dispatch:
    """Send these tasks to ``worker``; ``with_fn[i]`` says whether task ``keys[i]`` must carry
    its callable (the worker has not seen that function yet)."""

    worker: WorkerId
    keys: tuple[int, ...]
    with_fn: tuple[bool, ...]


@dataclass(frozen=True)
class CancelOnWorker:
    """Tell ``worker`` to drop ``key``, which it holds but has not started."""

    worker: WorkerId
    key: int


@dataclass(frozen=True)
class KillWorker:
    """Stop ``worker``'s process now (its running task is being abandoned or it misbehaved)."""

    worker: WorkerId
    reason: str


@dataclass(frozen=True)
class TaskLost:
    """``key`` was running on a worker that is gone; report it failed with ``reason``."""

    key: int
    worker: WorkerId
    reason: str


Instruction = Union[Dispatch, CancelOnWorker, KillWorker, TaskLost]


@dataclass
class WorkerSlot:
    """What the coordinator knows of one connected worker."""

    id: WorkerId
    name: str
    functions: set[int] = field(default_factory=set)
    queued: Deque[int] = field(default_factory=deque)  # sent, not started, in send order
    running: Optional[int] = None
    tasks_done: int = 0

    @property
    def load(self) -> int:
        return len(self.queued) + (self.running is not None)


class CoordinatorState:
    """Assigns submitted tasks to workers and accounts for every task until it is reported.

    Every submitted key ends in exactly one of: a result reported by a worker
    (:meth:`task_finished`), a :class:`TaskLost` instruction, or :meth:`cancel`.
    """

    def __init__(
        self, prefetch: int = 2, max_prefetch: Optional[int] = None, queue_seconds: float = 0.002
    ) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self.prefetch = prefetch
        self.max_prefetch = max(prefetch, max_prefetch or prefetch)
        self.queue_seconds = queue_seconds
        # How many tasks a worker may hold now: prefetch until durations say otherwise.
        self.depth = prefetch
        self.mean_duration: Optional[float] = None  # moving average of reported durations
        self.workers: dict[WorkerId, WorkerSlot] = {}
        self.pending: Deque[int] = deque()
        self.fn_of: dict[int, int] = {}
        self.where: dict[int, WorkerId] = {}

    # ----- events --------------------------------------------------------------------------

    def worker_joined(self, worker: WorkerId, name: str = "") -> list[Instruction]:
        if worker in self.workers:
            return []  # a duplicate hello changes nothing
        self.workers[worker] = WorkerSlot(worker, name or worker.hex())
        return self._assign()

    def worker_lost(self, worker: WorkerId, reason: str) -> list[Instruction]:
        """``worker`` is gone (died, killed, timed out on heartbeats). Its running task is
        reported lost; the tasks queued behind it never started and go back to the queue."""
        slot = self.workers.pop(worker, None)
        if slot is None:
            return []  # already removed: late or duplicate news
        out: list[Instruction] = []
        if slot.running is not None:
            key = slot.running
            self._forget(key)
            out.append(TaskLost(key, worker, reason))
        for key in reversed(slot.queued):
            self.where.pop(key, None)
            self.pending.appendleft(key)
        return out + self._assign()

    def submit(self, key: int, fn_id: int) -> list[Instruction]:
        if key in self.fn_of:
            raise ValueError(f"task key {key} submitted twice")
        self.fn_of[key] = fn_id
        self.pending.append(key)
        return self._assign()

    def add(self, key: int, fn_id: int) -> None:
        """Queues a task without handing anything out (call :meth:`assign` after a burst)."""
        if key in self.fn_of:
            raise ValueError(f"task key {key} submitted twice")
        self.fn_of[key] = fn_id
        self.pending.append(key)

    def submit_many(self, tasks: list[tuple[int, int]]) -> list[Instruction]:
        """Several submissions, dispatched as batches."""
        for key, fn_id in tasks:
            if key in self.fn_of:
                raise ValueError(f"task key {key} submitted twice")
            self.fn_of[key] = fn_id
            self.pending.append(key)
        return self._assign()

    def task_started(self, worker: WorkerId, key: int) -> list[Instruction]:
        slot = self.workers.get(worker)
        if slot is None or self.where.get(key) != worker or key not in slot.queued:
            return []  # stale: the task was cancelled or the worker already written off
        slot.queued.remove(key)
        slot.running = key
        return []

    def task_finished(self, worker: WorkerId, key: int, duration: Optional[float] = None) -> bool:
        """A worker reported ``key``'s outcome (after running ``duration`` seconds). True when
        it should be passed on; False for a stale report (a cancelled task, a worker already
        written off)."""
        slot = self.workers.get(worker)
        if slot is None or self.where.get(key) != worker:
            return False
        if isinstance(duration, (int, float)) and self.max_prefetch > self.prefetch:
            self._observe(float(duration))
        if slot.running == key:
            slot.running = None
        elif key in slot.queued:  # finished without a STARTED notice (it failed to load)
            slot.queued.remove(key)
        slot.tasks_done += 1
        self._forget(key)
        return True

    def assign(self) -> list[Instruction]:
        """Hands queued tasks to workers with room (after :meth:`task_finished`)."""
        return self._assign()

    def cancel(self, key: int) -> list[Instruction]:
        """Give up on ``key``. Unsent: dropped. Sent, not started: the worker is told to drop
        it. Running: its worker is killed, and the tasks queued behind it are requeued."""
        if key not in self.fn_of:
            return []
        worker = self.where.get(key)
        if worker is None:
            self.pending.remove(key)
            self._forget(key)
            return []
        slot = self.workers[worker]
        if slot.running != key:
            slot.queued.remove(key)
            self._forget(key)
            return [CancelOnWorker(worker, key), *self._assign()]
        slot.running = None
        self._forget(key)
        return [KillWorker(worker, f"task {key} abandoned"), *self.worker_lost(worker, "")]

    def kill(self, worker: WorkerId, reason: str) -> list[Instruction]:
        """Write ``worker`` off now (for example over its memory limit): kill it and report its
        running task lost with ``reason``."""
        if worker not in self.workers:
            return []
        return [KillWorker(worker, reason), *self.worker_lost(worker, reason)]

    # ----- queries -------------------------------------------------------------------------

    def outstanding(self) -> int:
        """Tasks submitted and not yet finished, lost or cancelled."""
        return len(self.fn_of)

    def running_on(self, worker: WorkerId) -> Optional[int]:
        slot = self.workers.get(worker)
        return slot.running if slot else None

    # ----- internals -----------------------------------------------------------------------

    def _observe(self, duration: float) -> None:
        if not 0.0 <= duration < 1e6:  # NaN, negative or absurd: not a duration
            return
        mean = self.mean_duration
        # A fast-moving average: one slow task shrinks the queues at once.
        mean = duration if mean is None else mean + 0.25 * (duration - mean)
        self.mean_duration = mean
        fits = int(self.queue_seconds / mean) if mean > 0 else self.max_prefetch
        self.depth = min(self.max_prefetch, max(self.prefetch, fits))

    def _forget(self, key: int) -> None:
        self.fn_of.pop(key, None)
        self.where.pop(key, None)

    def _assign(self) -> list[Instruction]:
        if not self.pending or not self.workers:
            return []
        batches: dict[WorkerId, list[int]] = {}
        depth = self.depth
        # Top a worker up only once it is down to half its queue, so that each message
        # carries a good batch rather than one task per task finished.
        slots = [s for s in self.workers.values() if s.load <= depth // 2]
        if not slots:
            return []
        # Fill the least-loaded workers first, one task at a time, so a burst spreads evenly
        # (ties go to the worker that joined first). A heap of (load, order) keeps that cheap.
        heap = [(s.load, n) for n, s in enumerate(slots)]
        heapq.heapify(heap)
        pending, where = self.pending, self.where
        while pending:
            load, n = heap[0]
            if load >= depth:
                break
            slot = slots[n]
            key = pending.popleft()
            slot.queued.append(key)
            where[key] = slot.id
            batch = batches.get(slot.id)
            if batch is None:
                batches[slot.id] = [key]
            else:
                batch.append(key)
            heapq.heapreplace(heap, (load + 1, n))
        out: list[Instruction] = []
        for worker, keys in batches.items():
            slot = self.workers[worker]
            with_fn = []
            for key in keys:
                fn = self.fn_of[key]
                with_fn.append(fn not in slot.functions)
                slot.functions.add(fn)
            out.append(Dispatch(worker, tuple(keys), tuple(with_fn)))
        return out
