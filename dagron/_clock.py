"""The coordinator's timeline: its monotonic clock, shown as wall-clock seconds.

Every stamp a run records (``NodeResult.started_at``/``finished_at``, the trace's run start,
end and events) is ``time.monotonic()`` of the coordinating process plus an anchor, the
difference between the wall clock and the monotonic clock read when the run began. Worker
processes measure their clock's offset from the coordinator's monotonic clock and stamp in it
(see :mod:`dagron.workers.clocksync`), so the coordinator only adds the anchor. While nobody
steps the system clock, a stamp equals ``time.time()``; if it is stepped mid-run (NTP stepping,
a manual change) the run's stamps stay on one continuous timeline instead of jumping.

>>> anchor()
>>> abs(now() - time.time()) < 0.1
True
"""

from __future__ import annotations

import time
from typing import NamedTuple

__all__ = ["ClockOffset", "anchor", "now", "wall"]

_anchor = time.time() - time.monotonic()


def anchor() -> None:
    """Reads the wall clock afresh; called as each run begins. Runs in one process share the
    anchor, so a run that begins while another is running re-anchors both: they differ only
    by a step of the system clock in between, which ``time.time()`` stamps would show too."""
    global _anchor
    _anchor = time.time() - time.monotonic()


def now() -> float:
    """The current time on the coordinator's timeline, in wall-clock seconds."""
    return time.monotonic() + _anchor


def wall(monotonic: float) -> float:
    """A ``time.monotonic()`` reading of this process (or a worker's stamp already moved to
    this process's monotonic clock) on the timeline of :func:`now`."""
    return monotonic + _anchor


class ClockOffset(NamedTuple):
    """How far a worker's clock runs ahead of the coordinator's (``offset`` seconds, negative
    when behind) and how well that is known: the true offset lies within ``offset ± error``,
    and the worker's stamps, once corrected, within ``error`` of the coordinator's clock.
    ``measured`` is True for offsets measured over the heartbeat channel (already taken out of
    the worker's stamps), False for one a trace inferred from stamps that were impossible."""

    offset: float
    error: float
    measured: bool = True
