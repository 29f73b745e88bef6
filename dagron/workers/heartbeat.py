"""Heartbeats: who has been heard from recently, who is due a ping, who is lost.

A small clock-free component: every method takes ``now`` (``time.monotonic()`` at the
caller), so it is tested with plain numbers. It reports lost peers; what losing one means is
the caller's business.
"""

from __future__ import annotations

from typing import Generic, Hashable, TypeVar

__all__ = ["Heartbeats"]

K = TypeVar("K", bound=Hashable)


class Heartbeats(Generic[K]):
    """Tracks peers that must be heard from at least every ``timeout`` seconds, and says
    when to ping them (every ``period`` seconds)."""

    def __init__(self, period: float = 1.0, timeout: float = 5.0) -> None:
        if period <= 0 or timeout <= period:
            raise ValueError("need 0 < period < timeout")
        self.period = period
        self.timeout = timeout
        self._last_seen: dict[K, float] = {}
        self._next_ping = 0.0

    def __contains__(self, peer: object) -> bool:
        return peer in self._last_seen

    def __len__(self) -> int:
        return len(self._last_seen)

    def add(self, peer: K, now: float) -> None:
        self._last_seen[peer] = now

    def seen(self, peer: K, now: float) -> bool:
        """Records a sign of life; False (and nothing recorded) for a peer not tracked, such
        as one already declared lost: late heartbeats never revive it by themselves."""
        if peer not in self._last_seen:
            return False
        self._last_seen[peer] = max(self._last_seen[peer], now)
        return True

    def forget(self, peer: K) -> None:
        self._last_seen.pop(peer, None)

    def ping_due(self, now: float) -> bool:
        """True once per ``period``: time to ping every peer."""
        if now >= self._next_ping:
            self._next_ping = now + self.period
            return True
        return False

    def expired(self, now: float) -> list[K]:
        """Peers silent for longer than ``timeout``; they are forgotten."""
        lost = [k for k, t in self._last_seen.items() if now - t > self.timeout]
        for k in lost:
            del self._last_seen[k]
        return lost

    def next_deadline(self, now: float) -> float:
        """Seconds until something may be due (a ping or an expiry)."""
        soonest = self._next_ping
        if self._last_seen:
            soonest = min(soonest, min(self._last_seen.values()) + self.timeout)
        return max(0.0, soonest - now)
