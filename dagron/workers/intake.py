"""What workers report about their tasks: started notices, results, and starts read from
local workers' status pages.

:class:`ReportIntake` decodes those messages (:mod:`~dagron.workers.results_codec`), tells
the state machine, and turns each outcome it confirms into a completion for the run: a
``Started``, a ``Succeeded`` whose value stays serialized until it is read, or a ``Failed``.
Completions are under the executor's keys (the task table's :meth:`TaskTable.finish`
forgets a task once reported). It returns the state's instructions for the coordinator to
carry out. A message that cannot be read never vanishes: its tasks fail saying so, or its
sender is written off.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Optional

from .. import _clock
from ..backends.base import Completion, Failed, Started, Succeeded
from ..errors import WorkerLostError
from ..node_result import error_message
from . import protocol as p
from . import results_codec as rc
from . import shm
from .heartbeat import Heartbeats
from .remote import RemoteWorkers
from .report_frames import from_frames
from .state import (
    CoordinatorState,
    IgnoreReport,
    Instruction,
    TaskLost,
    TasksFinished,
    TaskStarted,
    TopUp,
    WorkerWrittenOff,
)
from .task_table import TaskTable

__all__ = ["ReportIntake"]

log = logging.getLogger("dagron.workers")

_new = tuple.__new__  # builds a report without a named tuple's keyword handling
_NONE: list[Instruction] = []


class ReportIntake:
    """Reports from the workers named in ``names`` (by socket identity) become completions,
    appended to ``done``. ``local`` holds the local workers by identity (only they may send
    a result through shared memory, whose directory is :attr:`segments` once there is one);
    ``remotes`` and ``heartbeats`` watch the others, for which a result counts as a sign of
    life."""

    def __init__(
        self,
        state: CoordinatorState,
        table: TaskTable,
        names: Mapping[bytes, str],
        local: Mapping[bytes, Any],
        remotes: RemoteWorkers,
        heartbeats: Heartbeats[bytes],
        done: list[Completion],
    ) -> None:
        self.segments: Optional[shm.SegmentDir] = None
        self._state = state
        self._handle = state.handle
        self._table = table
        self._key_of = table.key_of  # read per started notice: the dict itself
        self._names = names
        self._local = local
        self._remotes = remotes
        self._remote = remotes.by_id  # tested per result message: the dict itself
        self._heartbeats = heartbeats
        self._done = done

    def on_started(self, ident: bytes, frames: list[Any]) -> None:
        """A STARTED message: the worker began a task. From a remote worker it is also a
        sign of life: its task may hold the GIL from now on, and until its nanny's next
        vouch nothing else will say it lives."""
        key, started = rc.decode_started(frames[0])
        if ident in self._remote:
            self._heartbeats.seen(ident, time.monotonic())
        self.started(ident, key, started)

    def started(self, ident: bytes, key: int, started: float) -> None:
        """``ident`` began task ``key`` at ``started`` (its clock, aligned to ours)."""
        if self._handle(TaskStarted(ident, key)):  # an IgnoreReport: stale or repeated news
            return
        run_key = self._key_of.get(key)
        if run_key is not None:  # else cancelled meanwhile
            self._done.append(Started(run_key, _clock.wall(started), self._names[ident]))

    def lost(self, lost: TaskLost) -> None:
        """The state reported a task lost with its worker: it fails with a
        :class:`WorkerLostError`."""
        (key,) = self._table.finish((lost.key,))
        if key is not None:
            now = _clock.now()
            worker = self._names.get(lost.worker, "?")
            err = WorkerLostError(lost.reason)
            self._done.append(Failed(key, err, None, now, now, 0.0, worker))

    def from_pages(self, begun: list[tuple[bytes, int, float]]) -> None:
        """Starts read from local workers' status pages: a task a worker began (its page
        says) but never announced is started now."""
        workers = self._state.workers
        for ident, key, started in begun:
            slot = workers.get(ident)
            if slot is not None and key in slot.queued:
                self.started(ident, key, started)

    def on_result(self, ident: bytes, frames: list[Any]) -> list[Instruction]:
        """A RESULT message: reports of tasks the worker finished, then maybe the task it
        begins now. Returns the state's instructions (workers to top up, ...)."""
        try:
            reports, started = rc.decode_result_message(frames)
        except ValueError as exc:  # whose outcomes are these? Its tasks are accounted for
            return self._write_off(ident, exc)
        if ident in self._remote:
            self._heartbeats.seen(ident, time.monotonic())
        out = _NONE
        try:
            if reports:
                self._finished(ident, reports)
            if started is not None:
                self.started(ident, *started)
        except Exception as exc:  # the reports not read yet are accounted for
            out = self._write_off(ident, exc)
        return out + self._handle(TopUp())  # top the workers up, whatever came in

    def _write_off(self, ident: bytes, exc: Exception) -> list[Instruction]:
        # A worker that sent a result that cannot be read: its running task is reported
        # lost, saying why, and the tasks queued there go elsewhere.
        name = self._names.get(ident, "?")
        why = f"worker {name} sent a result that cannot be read ({error_message(exc)})"
        log.warning("%s; written off", why)
        self._remotes.write_off(ident)
        return self._handle(WorkerWrittenOff(ident, why))

    def _finished(self, ident: bytes, reports: list[rc.Report]) -> None:
        segments = self.segments
        if segments is None or ident not in self._local:
            reports = [_no_segment(r) if r[7] is not None else r for r in reports]
        worker = self._names.get(ident, "?")
        tids = [r[0] for r in reports]
        ignored = self._handle(TasksFinished(ident, tids, [r[4] for r in reports]))
        if ignored:  # stale news: dropped, and nobody will read their segments
            stale = {i.key for i in ignored if type(i) is IgnoreReport}
            for r in reports:
                if r[0] in stale and r[7] is not None and segments is not None:
                    segments.discard(r[7][0])
            reports = [r for r in reports if r[0] not in stale]
            tids = [r[0] for r in reports]
        shift, done, inline = _clock.wall(0.0), self._done, p.OK_INLINE
        of_pickle = p.SerializedValue.of_pickle
        for key, report in zip(self._table.finish(tids), reports):
            tid, status, started, finished, took, extra, _, segment = report
            if key is None:  # cancelled meanwhile
                if segment is not None and segments is not None:
                    segments.discard(segment[0])
                continue
            started += shift
            finished += shift
            if status == inline and type(extra) is bytes:  # the common case: a small value
                value = of_pickle(extra)
                done.append(_new(Succeeded, (key, value, started, finished, took, worker)))
            else:  # in frames, a failure, or malformed (from_frames fails it, saying so)
                node = self._table.node_name(tid) or ""
                report = (key, *report[1:])
                done.append(from_frames(report, started, finished, worker, node, segments))


def _no_segment(report: rc.Report) -> rc.Report:
    return rc.as_unreadable(report, "a shared-memory segment from a worker that may not send one")
