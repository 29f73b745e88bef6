"""A worker's clock offset from its coordinator, measured Cristian/NTP style.

The worker sends its clock reading ``sent`` on the heartbeat channel; the coordinator answers
with ``sent`` and its own monotonic clock ``remote``; the worker reads its clock again when the
answer arrives (``received``). The coordinator read its clock somewhere in between, so the
worker's offset (its clock minus the coordinator's) lies in ``[sent - remote, received -
remote]``, whatever the delays each way: the estimate is the middle of that interval and its
error at most half the round trip. Queues, GIL switches and busy loops only make the round
trip longer, so the sample with the shortest round trip among the last ``window`` is kept;
older samples fall out of the window, so a slow drift between the clocks is followed.

Clock-free like :mod:`dagron.workers.heartbeat`: readings come in as plain numbers.

>>> sync = OffsetEstimator()
>>> sync.add(sent=10.0, remote=3.0, received=10.2)  # a slow answer: 7.1 +- 0.1
>>> sync.add(sent=11.0, remote=3.96, received=11.02)  # a fast one wins: 7.05 +- 0.01
>>> [round(x, 6) for x in sync.estimate[:2]]
[7.05, 0.01]
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from .._clock import ClockOffset

__all__ = ["OffsetBook", "OffsetEstimator"]


class OffsetEstimator:
    """The best offset among the last ``window`` exchanges (the one with the shortest round
    trip)."""

    def __init__(self, window: int = 16) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)  # (round trip, offset)
        self.estimate: Optional[ClockOffset] = None

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, sent: float, remote: float, received: float) -> None:
        """Records one exchange; one whose answer came back before it was sent (a reply to
        something else, or a clock that stepped) is ignored."""
        round_trip = received - sent
        if round_trip < 0:
            return
        self._samples.append((round_trip, (sent + received) / 2 - remote))
        best_trip, offset = min(self._samples)
        self.estimate = ClockOffset(offset, best_trip / 2)

    @property
    def correction(self) -> float:
        """What to subtract from this clock's readings to get the coordinator's: the offset,
        or 0 while the offset is within its error of 0 (the clocks agree as far as can be
        measured; workers on the coordinator's machine share its clock exactly, and are then
        never moved by measurement noise)."""
        est = self.estimate
        if est is None or abs(est.offset) <= est.error:
            return 0.0
        return est.offset

    @property
    def reported(self) -> Optional[ClockOffset]:
        """The estimate with an error that also bounds the corrected stamps: when the offset
        is not applied, they are off by the true offset, up to ``|offset| + error``."""
        est = self.estimate
        if est is None or self.correction == est.offset:
            return est
        return est._replace(error=abs(est.offset) + est.error)


class OffsetBook:
    """The coordinator's record of each worker's last reported clock offset, by worker name.

    Kept after a worker leaves (its tasks may still be in a run's trace); beyond ``bound``
    names the oldest half is dropped.

    >>> book = OffsetBook()
    >>> book.note("h/w1", (0.25, 0.001))
    >>> book.note("h/w1", None)  # a worker that has not measured yet changes nothing
    >>> book.snapshot()
    {'h/w1': ClockOffset(offset=0.25, error=0.001, measured=True)}
    """

    def __init__(self, bound: int = 4096) -> None:
        self._bound = bound
        self._offsets: dict[str, ClockOffset] = {}

    def note(self, name: str, offset: Optional[tuple[float, float]]) -> None:
        """``name`` reported ``(offset, error)``, or None when it has no estimate yet."""
        if offset is None:
            return
        measured, error = offset
        offsets = self._offsets
        offsets.pop(name, None)  # re-inserted last: the dict is oldest first
        offsets[name] = ClockOffset(float(measured), float(error))
        if len(offsets) > self._bound:
            for old in list(offsets)[: self._bound // 2]:
                del offsets[old]

    def snapshot(self) -> dict[str, ClockOffset]:
        """A copy: worker name -> its offset (seconds its clock is ahead)."""
        return dict(self._offsets)
