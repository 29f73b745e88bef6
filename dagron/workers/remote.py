"""The coordinator's registry of remote workers: those that joined over the network.

Remote workers are watched through their heartbeats (local ones through their process). One
that stays silent too long is written off; if it is heard from again (a cut link that healed)
it must start over with a fresh hello. The registry only keeps the books and says what
happened; what that means for the tasks is the coordinator's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from .heartbeat import Heartbeats

__all__ = ["LostWorker", "RemoteWorker", "RemoteWorkers"]


@dataclass
class RemoteWorker:
    """A worker this coordinator did not start (it joined over the network)."""

    name: str
    host: str
    pid: int


class LostWorker(NamedTuple):
    """A remote worker declared lost, and why; ``nanny``: its host's nanny, to tell to kill
    it (it spins outside any task while its host answers), if not None."""

    ident: bytes
    reason: str
    nanny: Optional[bytes] = None


class RemoteWorkers:
    """The remote workers that joined, by identity, and those written off.

    ``by_id`` is never rebound: the coordinator tests membership on it directly, per
    message. ``heartbeats`` tracks exactly the workers in ``by_id``.
    """

    def __init__(self, heartbeats: Heartbeats[bytes]) -> None:
        self.heartbeats = heartbeats
        self.by_id: dict[bytes, RemoteWorker] = {}
        self._written_off: set[bytes] = set()  # declared lost, not yet told to rejoin
        self._nanny_of: dict[bytes, bytes] = {}  # worker -> the nanny that vouched for it
        self._kill_waiting: dict[bytes, str] = {}  # to be killed once their nanny is known, why
        # Workers last vouched busy while running no task (loading a function that holds the
        # GIL, say), and when: not kept alive by it, but killed when they expire.
        self._spinning: dict[bytes, float] = {}

    def join(self, ident: bytes, worker: RemoteWorker, now: float) -> None:
        """Records a remote worker's hello."""
        self.by_id[ident] = worker
        self._written_off.discard(ident)
        self._kill_waiting.pop(ident, None)
        self.heartbeats.add(ident, now)

    def heard_from(self, ident: bytes, now: float) -> bool:
        """Records a heartbeat; True if it comes from a worker written off, which must now
        be told to start over (it is told once)."""
        if ident in self.by_id:
            self.heartbeats.seen(ident, now)
            return False
        if ident in self._written_off:
            self._written_off.discard(ident)
            return True
        return False

    def vouched(
        self,
        nanny: bytes,
        workers: tuple[bytes, ...],
        busy: tuple[bytes, ...],
        now: float,
        running_on: Callable[[bytes], Optional[int]],
    ) -> list[tuple[bytes, str]]:
        """Records the vouch of a host's nanny (socket identity ``nanny``): ``workers`` are
        its own, and those ``busy`` are alive and using CPU time. For a worker running a
        task (``running_on`` says which, None: none) that is as good as a heartbeat: its
        task may hold the GIL. One busy outside any task is not kept alive by it, and is
        killed if it expires. Workers not, or no longer, joined are not revived. Returns
        those of its workers to be killed that were waiting for their nanny to be known,
        and why."""
        by_id, seen = self.by_id, self.heartbeats.seen
        for ident in busy:
            if ident in by_id:
                if running_on(ident) is not None:
                    seen(ident, now)
                else:
                    self._spinning[ident] = now
        kill = []
        for ident in workers:
            if ident in by_id:  # the first to vouch is its nanny: another cannot take over
                self._nanny_of.setdefault(ident, nanny)
            elif ident in self._kill_waiting:
                kill.append((ident, self._kill_waiting.pop(ident)))
        return kill

    def kill_order(self, ident: bytes, reason: str) -> Optional[bytes]:
        """Writes off a remote worker to be killed; returns the socket identity of its
        nanny to tell (None: none vouched for it yet; if one does, :meth:`vouched` says
        so). Not remote: None, and nothing done."""
        if ident not in self.by_id:
            return None
        nanny = self._nanny_of.get(ident)
        if nanny is None:
            self._kill_waiting[ident] = reason
        self.write_off(ident)
        return nanny

    def forget(self, ident: bytes) -> None:
        """Drops a worker that left (or was restarted) without being written off."""
        self.by_id.pop(ident, None)
        self._nanny_of.pop(ident, None)
        self._spinning.pop(ident, None)
        self.heartbeats.forget(ident)

    def write_off(self, ident: bytes) -> None:
        """Drops a worker the coordinator wrote off; if it is still there, its next
        heartbeat has it told to start over."""
        if ident in self.by_id:
            self.forget(ident)
            self._written_off.add(ident)

    def expired(self, now: float) -> list[LostWorker]:
        """The workers silent for longer than the heartbeat timeout, now written off."""
        lost = []
        timeout = self.heartbeats.timeout
        for ident in self.heartbeats.expired(now):
            remote = self.by_id.get(ident)
            if remote is None:
                continue
            reason = (
                f"worker {remote.name} (pid {remote.pid} on {remote.host}) sent no heartbeat "
                f"for {timeout:g} s"
            )
            spun = self._spinning.get(ident)
            # Silent, yet its nanny saw it spin lately: its host answers, the worker is stuck.
            nanny = (
                self._nanny_of.get(ident) if spun is not None and now - spun <= timeout else None
            )
            self.write_off(ident)
            lost.append(LostWorker(ident, reason, nanny))
        return lost
