"""A task's report whose outcome travelled in frames (a large value, raw buffers, a
failure), possibly partly in a shared-memory segment, turned into the executor's
:class:`~dagron.backends.base.Completion`.

The common case, a small value in the report's header, never comes here: the coordinator
decodes it in place.
"""

from __future__ import annotations

from typing import Any, Optional

from ..backends.base import Completion, Failed, Succeeded
from ..errors import SerializationError
from . import protocol as p
from . import results_codec as rc
from . import shm

__all__ = ["from_frames"]


def from_frames(
    report: rc.Report,
    started: float,
    finished: float,
    worker: str,
    node: str,
    segments: Optional[shm.SegmentDir],
) -> Completion:
    """The completion of ``report`` (its times already on the run's timeline), adopting its
    shared-memory segment into ``segments`` if it names one. A segment that cannot be read
    is discarded and the task fails with a :class:`SerializationError`."""
    key, status, _, _, took, extra, frames, segment = report
    payload = [f.buffer for f in frames]
    held: Optional[tuple[shm.Segment, tuple[int, ...]]] = None
    if segment is not None and segments is not None:
        name, indices, sizes = segment
        try:
            adopted, views = segments.adopt(name, sizes, keep_open=status == p.OK_RAW)
            payload = shm.interleave(payload, indices, views)
        except (OSError, ValueError, TypeError) as exc:
            segments.discard(name)
            unread = SerializationError(node, "shared memory", "result", str(exc))
            return Failed(key, unread, None, started, finished, took, worker)
        held = (adopted, tuple(indices))
    if rc.is_value(status):
        try:
            value: Any = rc.decode_value(status, extra, payload, held)
        except ValueError as exc:
            return Failed(
                key, rc.unreadable(node, worker, exc), None, started, finished, took, worker
            )
        return Succeeded(key, value, started, finished, took, worker)
    err, tb = rc.decode_failure(status, extra, payload, node, worker)
    return Failed(key, err, tb, started, finished, took, worker)
