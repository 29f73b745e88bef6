"""Who the coordinator's workers are: hellos and welcomes, heartbeats, the names they go by,
their clock offsets, their forwarded output, and what each is doing.

:class:`Membership` answers the messages that concern workers rather than tasks. It says
what changed as state-machine events (a worker joined, one was written off) and leaves it
to the coordinator to feed them on; it never touches a task.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

from . import control_codec as cc
from .clocksync import OffsetBook
from .heartbeat import Heartbeats
from .output import show_log, show_output
from .pool import LocalPool
from .remote import RemoteWorker, RemoteWorkers
from .state import CoordinatorState, WorkerJoined, WorkerWrittenOff
from .task_table import TaskTable
from .transport import RouterTransport

__all__ = ["Membership"]

log = logging.getLogger("dagron.workers")


class Membership:
    """The workers of one coordinator: local ones (``pool``'s) and, with ``accepts_remote``,
    those that join over the network (:attr:`remotes`, watched by ``heartbeats``).
    ``state`` is read to tell a joined worker from a stranger; ``table`` names the node a
    forwarded line of output came from."""

    def __init__(
        self,
        transport: RouterTransport,
        pool: LocalPool,
        heartbeats: Heartbeats[bytes],
        state: CoordinatorState,
        table: TaskTable,
        accepts_remote: bool,
    ) -> None:
        #: Each joined worker's name, by socket identity.
        self.names: dict[bytes, str] = {}
        #: Each worker's measured clock offset, by name.
        self.offsets = OffsetBook()
        self.remotes = RemoteWorkers(heartbeats)
        self._transport = transport
        self._send = transport.send
        self._pool = pool
        self._state = state
        self._table = table
        self._accepts_remote = accepts_remote

    def hello(self, ident: bytes, frames: list[Any]) -> Optional[WorkerJoined]:
        """A worker says hello: welcomed if it is one of ours (local, or remote where remote
        workers are accepted); returns the event, or None for a duplicate or a stranger."""
        pid, host, name, offset = cc.decode_hello(frames[0])
        if ident in self._state.workers:
            return None  # a duplicate hello
        local = self._pool.joined(name, pid, ident)
        if not local and self._accepts_remote:
            self.remotes.join(ident, RemoteWorker(name, host, pid), time.monotonic())
            log.info("worker %s (pid %d on %s) joined", name, pid, host)
        elif not local:
            log.warning("refused a hello from %r: not a worker of this coordinator", name)
            return None
        self.names[ident] = name
        # Unlike send(), a peer that is gone raises here: it never joins.
        self._transport.socket.send_multipart([ident, *cc.welcome_message()])
        self._note_offset(ident, offset)
        return WorkerJoined(ident, name)

    def heartbeat(self, hb_ident: bytes, frames: list[Any]) -> None:
        """Answers a heartbeat (hellos are preceded by a few, so a worker knows the
        coordinator lives) with this clock, for the worker to measure its offset; notes who
        is alive, and asks a worker written off but heard from again to start over."""
        worker, sent, offset = cc.decode_ping(frames[0])
        self._send(hb_ident, cc.encode_pong(sent, time.monotonic()))
        self._note_offset(worker, offset)
        now = time.monotonic()
        self._pool.heard_from(worker, now)  # local workers' liveness
        if self.remotes.heard_from(worker, now):  # a cut link that healed
            self._send(worker, cc.rejoin_message())

    def vouch(self, nanny: bytes, frames: list[Any]) -> None:
        """A host's nanny says which of its workers live and which are busy: busy ones
        running a task live on even while their tasks hold the GIL (no heartbeat of their
        own can leave then); the nanny is told to kill those given up on."""
        _, workers, busy = cc.decode_vouch(frames[0])
        self._send(nanny, cc.vouch_answer())
        now, running_on = time.monotonic(), self._state.running_on
        for worker, why in self.remotes.vouched(nanny, workers, busy, now, running_on):
            self._send(nanny, cc.encode_kill(worker, why))

    def output(self, ident: bytes, frames: list[Any]) -> None:
        """Shows what a worker's tasks printed or logged, prefixed by the node's name."""
        worker, chunks = cc.decode_output(frames[0])
        who = self.names.get(worker)
        if who is None:
            return
        for key, stream, payload in chunks:
            node = self._table.node_name(key) if key is not None else None
            prefix = node or who
            if stream == "log":
                level, logger, message = payload
                show_log(prefix, level, logger, message)
            else:
                show_output(prefix, stream, payload)

    def memory(self, hb_ident: bytes, frames: list[Any]) -> Optional[WorkerWrittenOff]:
        """A worker says it went over its memory limit and leaves: the event writing it
        off (None if it is not a joined worker)."""
        worker, rss, limit = cc.decode_memory(frames[0])
        name = self.names.get(worker)
        if name is None or worker not in self._state.workers:
            return None
        reason = (
            f"worker {name} used {rss / 2**20:.0f} MiB, over its memory limit of "
            f"{limit / 2**20:.0f} MiB, and was restarted"
        )
        self._pool.set_exit_reason(worker, reason)
        self.remotes.forget(worker)
        return WorkerWrittenOff(worker, reason)

    def listing(self) -> list[dict[str, Any]]:
        """One entry per live worker: name, host, pid, slots, tasks done, local or not."""
        host = os.uname().nodename
        found = [(w.identity or b"", w.name, host, w.pid, True) for w in self._pool.procs.values()]
        found += [(i, w.name, w.host, w.pid, False) for i, w in self.remotes.by_id.items()]
        slots = self._state.workers
        out = []
        for ident, name, on, pid, local in found:
            slot = slots.get(ident)
            done = slot.tasks_done if slot else 0
            out.append(
                {
                    "name": name,
                    "host": on,
                    "pid": pid,
                    "slots": 1,
                    "tasks_done": done,
                    "local": local,
                }
            )
        return out

    def _note_offset(self, worker: bytes, offset: Any) -> None:
        name = self.names.get(worker)
        if name is not None:
            self.offsets.note(name, offset)
