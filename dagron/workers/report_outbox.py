"""A worker's outbox: finished tasks' reports wait here and leave together, one RESULT message
for many short tasks, with the started notice of the task about to run riding along.

Reports leave (see :meth:`ReportOutbox.due`) before the next task starts once
REPORTS_PER_QUEUED times as many wait as tasks remain queued (so the coordinator tops the
queue up while a quarter of what it sent is still queued here), once the oldest has waited
REPORT_AGE seconds or REPORT_BYTES bytes wait; the worker also flushes whenever its queue is
empty. A local worker's large frames go into a shared-memory segment in the coordinator's
directory instead of into the message (see :mod:`~dagron.workers.shm`).

The outbox is not thread-safe: its owner serialises access (the worker's task lock).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Deque, Optional

import zmq

from . import pieces, shm
from . import protocol as p
from . import results_codec as rc

__all__ = ["REPORTS_PER_QUEUED", "REPORT_AGE", "REPORT_BYTES", "ReportOutbox"]

REPORT_AGE = 0.001
REPORT_BYTES = 1 << 20
# Fewer, fuller messages when tasks are short: the coordinator's cost is per message as much
# as per report (at 1, a batch of 32 no-ops came back in 5-6 messages; at 3, in about 3, and
# the warm engine ran them 8% faster). The tasks still queued cover the round trip.
REPORTS_PER_QUEUED = 3


class ReportOutbox:
    """Reports waiting to be sent on ``sock``. ``queue`` is the worker's queue of tasks
    still to run (its length is one of the flush rules; the outbox only reads it);
    ``shm_dir`` the coordinator's segment directory (None: everything travels in frames),
    segments named after ``identity``. ``monotonic`` reads the clock the age rule uses.
    ``max_frame``: the largest frame the coordinator reads (it has keys); a message with a
    larger part goes in pieces (see :mod:`~dagron.workers.pieces`)."""

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        queue: Deque[Any],
        identity: bytes,
        shm_dir: Optional[str] = None,
        monotonic: Callable[[], float] = time.monotonic,
        max_frame: Optional[int] = None,
    ) -> None:
        self.sock = sock
        self.max_frame = max_frame
        self.queue = queue
        self.prefix = identity.decode()
        self.shm_dir = shm_dir
        self.monotonic = monotonic
        self.reports: list[rc.Encoded] = []
        self.since = 0.0  # when the oldest waiting report arrived
        self.nbytes = 0  # bytes of the waiting reports' frames
        self.segments = 0

    def add(self, report: rc.Encoded) -> None:
        """Queues ``report`` (its large frames moved into a segment, if it may)."""
        if not self.reports:
            self.since = self.monotonic()
        frames = report[1]
        if self.shm_dir is not None and frames:
            rest, segment = self.to_segment(frames)
            if segment is not None:
                report = rc.with_segment(report[0], rest, segment)
                frames = rest
        self.reports.append(report)
        for f in frames:
            self.nbytes += len(f) if type(f) is bytes else memoryview(f).nbytes

    def to_segment(self, frames: list[Any]) -> tuple[list[Any], Optional[rc.SegmentRef]]:
        """Moves the large frames into a new shared-memory segment; returns the frames left
        and the segment's reference (None: all stay frames)."""
        big = tuple(
            i
            for i, f in enumerate(frames)
            if (len(f) if type(f) is bytes else memoryview(f).nbytes) >= shm.MIN_BYTES
        )
        if not big or self.shm_dir is None:
            return frames, None
        self.segments += 1
        name = f"{self.prefix}-{self.segments}"
        try:
            sizes = shm.write_segment(os.path.join(self.shm_dir, name), [frames[i] for i in big])
        except OSError:
            return frames, None  # /dev/shm full or gone: the frames still work
        rest = [f for i, f in enumerate(frames) if i not in big]
        return rest, (name, big, tuple(sizes))

    def due(self) -> bool:
        """True when the waiting reports should leave before the next task starts."""
        reports = self.reports
        return bool(reports) and (
            len(reports) >= REPORTS_PER_QUEUED * len(self.queue)
            or self.nbytes >= REPORT_BYTES
            or self.monotonic() - self.since >= REPORT_AGE
        )

    def flush(self, started: Optional[tuple[int, float]] = None) -> None:
        """Sends the waiting reports and the notice that task ``started[0]`` begins at
        ``started[1]``, as one message (a STARTED message alone when none wait)."""
        if not self.reports:
            if started is not None:
                p.send_parts(self.sock, rc.encode_started(*started))
            return
        reports, self.reports = self.reports, []
        nbytes, self.nbytes = self.nbytes, 0
        parts = rc.encode_result_message(reports, started)
        del reports
        limit = self.max_frame
        if limit is not None and (nbytes > limit or len(parts[1]) > limit):
            parts = pieces.cut(parts, limit)
        p.send_parts(self.sock, parts)
