"""What a worker's heartbeat thread checks on every tick, besides the heartbeat itself.

:class:`DeathWatch` says when the coordinator has been silent too long, :class:`MemoryWatch`
when this process has outgrown its memory limit, and :class:`OutputForwarder` turns what
tasks printed into OUTPUT messages. Each only decides: the thread feeds them readings
(``time.monotonic()`` times, resident memory) and does the acting (exiting, sending), so
they are tested with plain values, without sockets or processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from . import control_codec as cc
from .output import OutputBuffer

if TYPE_CHECKING:
    import psutil

__all__ = [
    "FORWARD_EVERY",
    "STALL_SLACK",
    "DeathWatch",
    "MemoryWatch",
    "OutputForwarder",
    "heartbeat_tick",
]

# Seconds between shipments of a running task's output: often enough to read as live.
FORWARD_EVERY = 0.05

# How much later than its tick the heartbeat thread may look before the delay counts as a
# stall (its process's GIL held by a task) rather than a busy machine.
STALL_SLACK = 0.5


def heartbeat_tick(period: float, forwarding: bool) -> float:
    """How long the heartbeat thread waits for an answer per tick: a beat's ``period``,
    shortened while output is forwarded so a task's prints leave as it runs, not once a
    beat."""
    return min(period, FORWARD_EVERY) if forwarding else period


class DeathWatch:
    """Says when the coordinator has been silent for more than ``timeout`` seconds (never
    when ``timeout`` is None). Times are ``time.monotonic()`` readings of the caller's.

    Silence counts only while the caller listens: it asks :meth:`expired` at least every
    ``tick`` seconds. A longer gap between two questions means its thread did not run (a
    task held the GIL); the coordinator's answers could not be read meanwhile, so that
    time is not held against it."""

    def __init__(self, timeout: Optional[float], now: float, tick: float) -> None:
        self.timeout = timeout
        self.tick = tick
        self.last_heard = now
        self._last_asked = now

    def heard(self, now: float) -> None:
        """The coordinator answered at ``now`` (so the caller was listening then)."""
        self.last_heard = self._last_asked = now

    def expired(self, now: float) -> bool:
        """True once the silence up to ``now``, not counting the time the caller could not
        listen, is longer than the timeout."""
        gap = now - self._last_asked
        self._last_asked = now
        if gap > self.tick + STALL_SLACK:
            self.last_heard += gap - self.tick
        return self.timeout is not None and now - self.last_heard > self.timeout


class MemoryWatch:
    """Says when this process's resident memory is over ``limit`` bytes (never when
    ``limit`` is None). ``rss`` reads the resident memory in bytes; by default, this
    process's, through psutil."""

    def __init__(self, limit: Optional[int], rss: Optional[Callable[[], int]] = None) -> None:
        self.limit = limit
        if rss is None and limit is not None:
            import psutil  # only with a limit: a worker without one starts without it

            rss = _resident_memory(psutil.Process())
        self._rss = rss

    def over(self) -> Optional[int]:
        """The resident memory if it is over the limit, else None; without a limit, nothing
        is read."""
        if self.limit is None or self._rss is None:
            return None
        rss = self._rss()
        return rss if rss > self.limit else None


def _resident_memory(process: psutil.Process) -> Callable[[], int]:
    def read() -> int:
        return int(process.memory_info().rss)

    return read


class OutputForwarder:
    """Packs what tasks printed or logged (collected in ``buffer``) into OUTPUT messages
    from the worker ``identity``."""

    def __init__(self, buffer: OutputBuffer, identity: bytes) -> None:
        self.buffer = buffer
        self.identity = identity

    def message(self) -> Optional[list[bytes]]:
        """The frames of an OUTPUT message with everything collected since the last one
        (the buffer is emptied), or None if there is nothing to send."""
        chunks = self.buffer.take()
        if not chunks:
            return None
        return cc.encode_output(self.identity, chunks)
