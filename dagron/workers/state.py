"""The coordinator's decisions as a pure state machine: events in, instructions out.

No sockets, no clock, no threads: :meth:`CoordinatorState.handle` takes event records
(:class:`TasksAdded`, :class:`TasksFinished`, ...) and answers with instruction records
(:class:`Dispatch`, :class:`TaskLost`, ...) for the I/O layer to carry out. That keeps the
hard part (who runs what, what a lost worker means) testable without processes.

Flow control: every worker holds up to ``prefetch`` tasks (the one it runs plus the ones queued
behind it), so its next task is already there when one finishes. When tasks turn out to be
short, a worker holds more, up to ``max_prefetch``: about ``queue_seconds`` of work at the
mean task duration seen so far, so that messages carry many tasks each while no worker sits
on much work another could do. A worker is topped up when it is down to half of that, and
tasks handed out together to one worker travel as one batch.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Iterable, Mapping, Optional, Sequence, Union

__all__ = [
    "CancelOnWorker",
    "CoordinatorState",
    "Dispatch",
    "Event",
    "ForgetOnWorker",
    "FunctionsReleased",
    "IgnoreReport",
    "Instruction",
    "KillWorker",
    "TaskCancelled",
    "TaskLost",
    "TaskStarted",
    "TasksAdded",
    "TasksFinished",
    "TopUp",
    "WorkerExited",
    "WorkerJoined",
    "WorkerLeft",
    "WorkerSlot",
    "WorkerWrittenOff",
    "WorkersComing",
]

WorkerId = bytes

# Records are plain slotted dataclasses (not frozen, not NamedTuples): the per-task ones
# (TaskStarted, TasksFinished) are built for every message, and these build fastest.

# ----- events ------------------------------------------------------------------------------


@dataclass
class TasksAdded:
    """New tasks, ``key -> function id`` in submission order (one event for a whole burst,
    so that it is handed out as one batch per worker), and for new functions that refer to
    shared ones, ``function id -> the ids a worker must hold to load it``, in load order,
    itself last (a function missing from ``loads`` and not known before needs only itself)."""

    __slots__ = ("loads", "tasks")
    tasks: Mapping[int, int]
    loads: Mapping[int, tuple[int, ...]]


@dataclass
class TaskStarted:
    """``worker`` began ``key``. Answered with :class:`IgnoreReport` when stale news."""

    __slots__ = ("key", "worker")
    worker: WorkerId
    key: int


@dataclass
class TasksFinished:
    """``worker`` reported the outcomes of ``keys``, in the order it ran them, after running
    ``durations[i]`` seconds each (None when unknown): one event per message of reports.
    Answered with an :class:`IgnoreReport` for each key that is stale news; the outcomes of
    the others are to be passed on. Frees room on the worker without refilling it: reports
    come in bursts, which the I/O layer ends with :class:`TopUp`."""

    __slots__ = ("durations", "keys", "worker")
    worker: WorkerId
    keys: Sequence[int]
    durations: Sequence[Optional[float]]


@dataclass
class TopUp:
    """A burst of reports is over: hand queued tasks to the workers with room."""

    __slots__ = ()


@dataclass
class TaskCancelled:
    """Give up on ``key``. Unsent: dropped. Sent, not started: its worker is told to drop it.
    Running: its worker is killed, and the tasks queued behind it are requeued."""

    __slots__ = ("key",)
    key: int


@dataclass
class WorkerJoined:
    """``worker`` said hello (``name`` empty: named by its id)."""

    __slots__ = ("name", "worker")
    worker: WorkerId
    name: str


@dataclass
class WorkersComing:
    """``count`` more workers are starting and join soon (0: none is expected). Until they
    have, a worker holds only the task it runs: tasks queued behind it would wait there while
    a newcomer sits idle (a run begins as soon as its first worker joins)."""

    __slots__ = ("count",)
    count: int


@dataclass
class WorkerLeft:
    """``worker`` is gone (timed out on heartbeats, left) and nothing says which of its
    tasks it began: a worker cut off from us runs its queue on. Every task handed to it is
    reported lost with ``reason``, each an attempt the run's retries decide about."""

    __slots__ = ("reason", "worker")
    worker: WorkerId
    reason: str


@dataclass
class WorkerExited:
    """``worker``'s process ended and its status page says ``began`` is the last task it
    began (None: none). That task and those handed to it before are reported lost with
    ``reason`` (they ran: the reports of finished ones died with it); the tasks queued behind
    it never began and are requeued, once each: a task lost again before it began is
    reported lost, since receiving it may be what kills its workers."""

    __slots__ = ("began", "reason", "worker")
    worker: WorkerId
    reason: str
    began: Optional[int]


@dataclass
class WorkerWrittenOff:
    """Write ``worker`` off now (for example over its memory limit): it is killed and every
    task handed to it is reported lost with ``reason``, as for :class:`WorkerLeft`."""

    __slots__ = ("reason", "worker")
    worker: WorkerId
    reason: str


@dataclass
class FunctionsReleased:
    """No task will use functions ``fn_ids`` any more: the workers holding them may drop them
    (a :class:`ForgetOnWorker` each)."""

    __slots__ = ("fn_ids",)
    fn_ids: tuple[int, ...]


Event = Union[
    FunctionsReleased,
    TasksAdded,
    TaskStarted,
    TasksFinished,
    TopUp,
    TaskCancelled,
    WorkerJoined,
    WorkerLeft,
    WorkerExited,
    WorkerWrittenOff,
    WorkersComing,
]

# ----- instructions ------------------------------------------------------------------------


@dataclass
class Dispatch:
    """Send these tasks to ``worker``, with the functions ``fn_ids`` first, in this order:
    those the tasks need that the worker has not been sent yet."""

    __slots__ = ("fn_ids", "keys", "worker")
    worker: WorkerId
    keys: tuple[int, ...]
    fn_ids: tuple[int, ...]


@dataclass
class CancelOnWorker:
    """Tell ``worker`` to drop ``key``, which it holds but has not started."""

    __slots__ = ("key", "worker")
    worker: WorkerId
    key: int


@dataclass
class KillWorker:
    """Stop ``worker``'s process now (its running task is being abandoned or it misbehaved)."""

    __slots__ = ("reason", "worker")
    worker: WorkerId
    reason: str


@dataclass
class TaskLost:
    """``key`` was handed to a worker that is gone; report it failed with ``reason``."""

    __slots__ = ("key", "reason", "worker")
    key: int
    worker: WorkerId
    reason: str


@dataclass
class IgnoreReport:
    """``worker``'s report on ``key`` is stale news (a cancelled task, a worker already
    written off): do not pass it on."""

    __slots__ = ("key", "worker")
    worker: WorkerId
    key: int


@dataclass
class ForgetOnWorker:
    """Tell ``worker`` it may drop functions ``fn_ids``."""

    __slots__ = ("fn_ids", "worker")
    worker: WorkerId
    fn_ids: tuple[int, ...]


Instruction = Union[Dispatch, CancelOnWorker, KillWorker, TaskLost, IgnoreReport, ForgetOnWorker]


@dataclass
class WorkerSlot:
    """What the coordinator knows of one connected worker."""

    id: WorkerId
    name: str
    functions: set[int] = field(default_factory=set)
    queued: Deque[int] = field(default_factory=deque)  # sent, not started, in send order
    running: Optional[int] = None
    # Finished there (a later task began: it runs them in order), their reports on the way.
    unreported: list[int] = field(default_factory=list)
    # Told to drop these (cancelled while queued there), the most recent ones, each with the
    # tasks queued ahead of it then: one it begins all the same (the cancel reached it too
    # late) is abandoned work holding it.
    dropped: dict[int, tuple[int, ...]] = field(default_factory=dict)
    tasks_done: int = 0

    @property
    def load(self) -> int:
        return len(self.queued) + (self.running is not None)


class CoordinatorState:
    """Assigns added tasks to workers and accounts for every task until it is reported.

    Every added key ends in exactly one of: a :class:`TasksFinished` report that is not
    answered with :class:`IgnoreReport`, a :class:`TaskLost` instruction, or a
    :class:`TaskCancelled` event. A task that may have run is never handed out again
    unseen: it is lost, and whether it runs again is the run's retries' decision. Its
    attributes are there to be read (by the I/O layer's queries and by tests); only
    :meth:`handle` changes them.
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
        # Function id -> what a worker must hold to load it (see TasksAdded), until released.
        self.loads: dict[int, tuple[int, ...]] = {}
        self.where: dict[int, WorkerId] = {}
        # Tasks requeued once after their worker died before beginning them (pruned when a
        # worker dies, not per task: keys are never reused).
        self.requeued: set[int] = set()
        # Workers expected to join soon (see WorkersComing): while any are, no prefetching.
        self.coming = 0

    def handle(self, *events: Event) -> list[Instruction]:
        """Applies ``events`` in order and returns what the I/O layer must do about them.
        Work is handed out once, after the last event, so events passed together make one
        batch per worker. Reports (:class:`TaskStarted`, :class:`TasksFinished`) never hand
        out work by themselves; every other event does when it makes room or brings work."""
        out: list[Instruction] = []
        refill = False
        handlers = _HANDLERS
        for event in events:
            if handlers[type(event)](self, event, out):
                refill = True
        if refill and self.pending and self.workers:
            self._assign(out)
        return out

    # ----- queries -------------------------------------------------------------------------

    def outstanding(self) -> int:
        """Tasks added and not yet finished, lost or cancelled."""
        return len(self.fn_of)

    def running_on(self, worker: WorkerId) -> Optional[int]:
        """The task ``worker`` runs now, if it is known to run one."""
        slot = self.workers.get(worker)
        return slot.running if slot else None

    # ----- event handlers: each returns whether work may be handed out after it -------------

    def _tasks_added(self, event: TasksAdded, out: list[Instruction]) -> bool:
        tasks, fn_of = event.tasks, self.fn_of
        if not fn_of.keys().isdisjoint(tasks):
            twice = next(key for key in tasks if key in fn_of)
            raise ValueError(f"task key {twice} submitted twice")
        fn_of.update(tasks)
        self.loads.update(event.loads)
        self.pending.extend(tasks)
        return True

    def _task_started(self, event: TaskStarted, out: list[Instruction]) -> bool:
        worker, key = event.worker, event.key
        if self.where.get(key) != worker:
            slot = self.workers.get(worker)
            if slot is not None and key in slot.dropped:
                return self._began_dropped(slot, key, out)
            out.append(IgnoreReport(worker, key))  # cancelled, or its worker written off
            return False
        slot = self.workers[worker]
        queued = slot.queued
        if key in queued:
            # One at a time, in order: what ran or was queued before it is done, though its
            # report may not be here yet (a status page is read ahead of the reports).
            if slot.running is not None:
                slot.unreported.append(slot.running)
            while queued[0] != key:
                slot.unreported.append(queued.popleft())
            queued.popleft()
            slot.running = key
        else:  # it runs already: a repeated notice (the worker's, after its status page's)
            out.append(IgnoreReport(worker, key))
        return False

    def _tasks_finished(self, event: TasksFinished, out: list[Instruction]) -> bool:
        worker = event.worker
        slot = self.workers.get(worker)
        if slot is None:
            out.extend(IgnoreReport(worker, key) for key in event.keys)
            return False
        where, fn_of, queued = self.where, self.fn_of, slot.queued
        observe = self.max_prefetch > self.prefetch
        mean, observed = self.mean_duration, False
        done = 0
        for key, duration in zip(event.keys, event.durations):
            if where.get(key) != worker:
                out.append(IgnoreReport(worker, key))
                continue
            if slot.running == key:
                slot.running = None
            elif queued and queued[0] == key:  # finished without a STARTED notice
                queued.popleft()
            elif key in queued:  # it failed to load, so never started
                queued.remove(key)
            elif key in slot.unreported:
                slot.unreported.remove(key)
            del where[key]
            fn_of.pop(key, None)
            done += 1
            # A fast-moving average: one slow task shrinks the queues at once. NaN,
            # negative or absurd durations are not durations.
            if observe and type(duration) is float and 0.0 <= duration < 1e6:
                mean = duration if mean is None else mean + 0.25 * (duration - mean)
                observed = True
        slot.tasks_done += done
        if observed:
            self._observed(mean)  # type: ignore[arg-type]
        return False

    def _top_up(self, event: TopUp, out: list[Instruction]) -> bool:
        return True

    def _task_cancelled(self, event: TaskCancelled, out: list[Instruction]) -> bool:
        key = event.key
        if key not in self.fn_of:
            return False
        worker = self.where.get(key)
        if worker is None:
            self.pending.remove(key)
            self._forget(key)
            return False
        slot = self.workers[worker]
        if key in slot.unreported:  # it finished there already: nothing to stop
            slot.unreported.remove(key)
            self._forget(key)
            return False
        if slot.running != key:
            queued = slot.queued
            slot.dropped[key] = tuple(itertools.takewhile(key.__ne__, queued))
            queued.remove(key)
            self._forget(key)
            out.append(CancelOnWorker(worker, key))
            if len(slot.dropped) > _DROPPED_KEPT:
                del slot.dropped[next(iter(slot.dropped))]
            return True
        slot.running = None
        self._forget(key)
        out.append(KillWorker(worker, f"task {key} abandoned"))
        del self.workers[worker]
        # What finished there before it has its reports lost with the worker; what is queued
        # never began and goes elsewhere.
        self._lose(slot, (), f"its worker was killed: task {key} there was cancelled", "", out)
        self._requeue(slot.queued, None, "", out)
        return True

    def _functions_released(self, event: FunctionsReleased, out: list[Instruction]) -> bool:
        released = set(event.fn_ids)
        for fn_id in released:
            self.loads.pop(fn_id, None)
        for slot in self.workers.values():
            held = slot.functions & released
            if held:
                slot.functions -= held
                out.append(ForgetOnWorker(slot.id, tuple(sorted(held))))
        return False

    def _worker_joined(self, event: WorkerJoined, out: list[Instruction]) -> bool:
        worker = event.worker
        if worker in self.workers:
            return False  # a duplicate hello changes nothing
        self.workers[worker] = WorkerSlot(worker, event.name or worker.hex())
        return True

    def _workers_coming(self, event: WorkersComing, out: list[Instruction]) -> bool:
        self.coming = max(0, event.count)
        return True

    def _worker_left(self, event: WorkerLeft, out: list[Instruction]) -> bool:
        slot = self.workers.pop(event.worker, None)
        if slot is None:
            return False  # already removed: late or duplicate news
        self._lose(slot, slot.queued, event.reason, _QUEUED, out)
        return True

    def _worker_exited(self, event: WorkerExited, out: list[Instruction]) -> bool:
        slot = self.workers.pop(event.worker, None)
        if slot is None:
            return False
        queued, began = slot.queued, event.began
        ran = []
        if began is not None and began in queued:  # it began that one unannounced
            if slot.running is not None:
                ran.append(slot.running)  # so this one had finished, its report unsent
            while queued[0] != began:
                ran.append(queued.popleft())
            slot.running = queued.popleft()
        self._lose(slot, ran, event.reason, _UNREPORTED, out)
        self._requeue(queued, slot.id, event.reason, out)
        return True

    def _worker_written_off(self, event: WorkerWrittenOff, out: list[Instruction]) -> bool:
        slot = self.workers.pop(event.worker, None)
        if slot is None:
            return False
        out.append(KillWorker(event.worker, event.reason))
        self._lose(slot, slot.queued, event.reason, _QUEUED, out)
        return True

    # ----- internals -----------------------------------------------------------------------

    def _began_dropped(self, slot: WorkerSlot, key: int, out: list[Instruction]) -> bool:
        """``slot``'s worker began ``key``, cancelled while queued there: kill it. The tasks
        queued ahead of ``key`` ran there (their reports not here yet: lost); those behind it
        never began and go elsewhere."""
        del self.workers[slot.id]
        out.append(KillWorker(slot.id, f"task {key} abandoned"))
        ahead = set(slot.dropped[key])
        ran = [k for k in slot.queued if k in ahead]
        reason = f"its worker was killed: it began task {key}, which was cancelled"
        self._lose(slot, ran, reason, _UNREPORTED, out)
        self._requeue([k for k in slot.queued if k not in ahead], None, "", out)
        return True

    def _lose(
        self,
        slot: WorkerSlot,
        others: Iterable[int],
        reason: str,
        note: str,
        out: list[Instruction],
    ) -> None:
        """Reports ``slot``'s running task lost with ``reason``, then those it finished whose
        reports never came, then ``others`` (tasks it held that may have run) with ``reason``
        and ``note``."""
        if slot.running is not None:
            self._forget(slot.running)
            out.append(TaskLost(slot.running, slot.id, reason))
        for key in slot.unreported:
            self._forget(key)
            out.append(TaskLost(key, slot.id, reason + _UNREPORTED))
        for key in others:
            self._forget(key)
            out.append(TaskLost(key, slot.id, reason + note))

    def _requeue(
        self,
        queued: Iterable[int],
        lost_on: Optional[WorkerId],
        reason: str,
        out: list[Instruction],
    ) -> None:
        """Hands ``queued`` (which never began) out again, first. Lost from a dead worker
        (``lost_on``) a second time, a task is reported lost instead."""
        if lost_on is not None and self.requeued:
            self.requeued.intersection_update(self.fn_of)  # forget those that ended since
        back = []
        for key in queued:
            if lost_on is None:
                back.append(key)
            elif key in self.requeued:
                self._forget(key)
                note = " (this task was queued on it, and on a worker lost before)"
                out.append(TaskLost(key, lost_on, reason + note))
            else:
                self.requeued.add(key)
                back.append(key)
        for key in reversed(back):
            self.where.pop(key, None)
            self.pending.appendleft(key)

    def _observed(self, mean: float) -> None:
        """The mean duration is now ``mean``: as many tasks per worker as fit in
        ``queue_seconds`` at that pace."""
        self.mean_duration = mean
        fits = int(self.queue_seconds / mean) if mean > 0 else self.max_prefetch
        self.depth = min(self.max_prefetch, max(self.prefetch, fits))

    def _forget(self, key: int) -> None:
        self.fn_of.pop(key, None)
        self.where.pop(key, None)

    def _assign(self, out: list[Instruction]) -> None:
        if not self.pending or not self.workers:
            return
        batches: dict[WorkerId, list[int]] = {}
        depth = 1 if self.coming else self.depth
        # Top a worker up only once it is down to half its queue, so that each message
        # carries a good batch rather than one task per task finished.
        slots = [s for s in self.workers.values() if s.load <= depth // 2]
        if not slots:
            return
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
        fn_of, loads = self.fn_of, self.loads
        for worker, keys in batches.items():
            held = self.workers[worker].functions
            send: list[int] = []
            for key in keys:
                fn = fn_of[key]
                if fn not in held:
                    for needed in loads.get(fn, (fn,)):
                        if needed not in held:
                            held.add(needed)
                            send.append(needed)
            out.append(Dispatch(worker, tuple(keys), tuple(send)))


# How many cancelled tasks a worker's slot remembers (see WorkerSlot.dropped).
_DROPPED_KEPT = 256
_QUEUED = " (this task was queued on it)"
_UNREPORTED = " (it ran there; its report was lost)"

# One handler per event type, looked up by exact type: a dict hit is cheaper per report than
# a chain of isinstance tests.
_HANDLERS: dict[type, Callable[[CoordinatorState, Any, list[Instruction]], bool]] = {
    FunctionsReleased: CoordinatorState._functions_released,
    TasksAdded: CoordinatorState._tasks_added,
    TaskStarted: CoordinatorState._task_started,
    TasksFinished: CoordinatorState._tasks_finished,
    TopUp: CoordinatorState._top_up,
    TaskCancelled: CoordinatorState._task_cancelled,
    WorkerJoined: CoordinatorState._worker_joined,
    WorkerLeft: CoordinatorState._worker_left,
    WorkerExited: CoordinatorState._worker_exited,
    WorkerWrittenOff: CoordinatorState._worker_written_off,
    WorkersComing: CoordinatorState._workers_coming,
}
