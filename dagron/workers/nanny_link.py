"""A worker host's nanny's own link to the coordinator: it vouches for its busy workers,
takes the coordinator's orders to kill one, and notices when the coordinator is gone.

A worker's heartbeats come from a thread of the worker, which cannot run while a task holds
the GIL in one long C call (a regex, a big ``sum``, an extension that never releases it).
The nanny is another process, which never runs tasks: once a period it tells the coordinator
which of its workers are alive and have used CPU time since the last period (busy, not
lost). A worker stopped, or hung without using CPU, gets no vouch, and is declared lost
as before; a host cut off from the coordinator cuts off its nanny too.

The coordinator answers a worker it gives up on (a timed-out task it is running) with a KILL
order to its nanny: the worker cannot be asked to stop while it holds the GIL, and left
alone it would hold on to that task, and its host's capacity, for good. For the same
reason the nanny, not only its workers, watches for the coordinator's answers, and stops
its workers when they have not come for its death timeout.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

import zmq

from . import control_codec as cc
from .protocol import KILL
from .security import WorkerKeys

__all__ = ["CpuWatch", "NannyLink"]

log = logging.getLogger("dagron.workers")


class NannyLink:
    """The nanny ``name``'s socket to the coordinator at ``address`` (with CURVE ``keys``
    if given), in a ZeroMQ context of its own."""

    def __init__(self, address: str, name: str, keys: Optional[WorkerKeys] = None) -> None:
        self.name = name
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"n" + os.urandom(8).hex().encode())
        sock.setsockopt(zmq.LINGER, 0)
        # A vouch is news only when it is fresh: never queue more than a couple while the
        # coordinator cannot be reached.
        sock.setsockopt(zmq.SNDHWM, 2)
        if keys is not None:
            sock.curve_secretkey = keys.secret
            sock.curve_publickey = keys.public
            sock.curve_serverkey = keys.server_public
        sock.connect(address)
        self._sock = sock
        # When the coordinator was last heard from (it answers every vouch): a worker whose
        # task holds the GIL cannot notice that the coordinator is gone, its nanny can.
        self.last_heard = time.monotonic()

    def vouch(self, workers: tuple[bytes, ...], busy: tuple[bytes, ...]) -> None:
        """Tells the coordinator that ``workers`` (task socket identities) are this nanny's
        and alive, and which of them are ``busy``; dropped, never blocking, when it cannot
        be sent now."""
        try:
            self._sock.send_multipart(cc.encode_vouch(self.name, workers, busy), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def wait(self, timeout: float) -> list[tuple[bytes, str]]:
        """Waits up to ``timeout`` seconds for word from the coordinator; returns its kill
        orders, ``(worker identity, reason)`` each. Anything else only says it lives."""
        orders: list[tuple[bytes, str]] = []
        if not self._sock.poll(int(timeout * 1000)):
            return orders
        while True:
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return orders
            self.last_heard = time.monotonic()
            if len(frames) == 2 and frames[0] == KILL:
                try:
                    orders.append(cc.decode_kill(frames[1]))
                except ValueError as exc:
                    log.warning("dropped a malformed kill order: %s", exc)

    def close(self) -> None:
        self._sock.close(linger=0)
        self._ctx.term()

    def __enter__(self) -> NannyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CpuWatch:
    """Which workers are busy: those that used at least ``share`` of a CPU since they were
    last asked about. A waiting worker's threads use about 0.5 %; one in a task, all it
    gets, which on a loaded host may be much less than a whole CPU."""

    def __init__(self, share: float = 0.02) -> None:
        self.share = share
        self._last: dict[bytes, tuple[float, float]] = {}

    def started(self, identity: bytes, now: float) -> None:
        """The worker ``identity`` started at ``now`` (a ``time.monotonic()`` reading), with
        no CPU time used: the first :meth:`busy` for it then measures from here, so it can
        say busy at once, for a task begun before anyone asked."""
        self._last[identity] = (0.0, now)

    def busy(self, identity: bytes, cpu_time: float, now: float) -> bool:
        """True if ``cpu_time`` (the worker's CPU seconds so far, negative once it is gone)
        grew by ``share`` of the time since the last call for ``identity`` (``now``, a
        ``time.monotonic()`` reading)."""
        last = self._last.get(identity)
        self._last[identity] = (cpu_time, now)
        if cpu_time < 0 or last is None:
            return False
        return cpu_time - last[0] >= self.share * (now - last[1])

    def forget(self, identity: bytes) -> None:
        self._last.pop(identity, None)
