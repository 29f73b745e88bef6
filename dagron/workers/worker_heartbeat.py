"""A worker's link to its coordinator besides the tasks: heartbeats, clocks and watchdogs.

A second socket, served by a thread of its own, pings the coordinator every period, so a
long task does not look like a dead host and a vanished coordinator is noticed even mid-task.
Each answer is a clock sample (:mod:`~dagron.workers.clocksync`): :meth:`HeartbeatLink.now`
reads the coordinator's clock as far as it is known here. The thread also ticks the watchdogs
(:mod:`~dagron.workers.watchdog`): it ships tasks' output and exits the process when the
coordinator has been silent for ``death_timeout`` seconds or memory is over the limit. A
second thread exits it when the process that started it is gone.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import Callable, Optional

import zmq

from . import control_codec as cc
from . import protocol as p
from .clocksync import OffsetEstimator
from .pieces import MAX_FRAME, cut
from .watchdog import DeathWatch, MemoryWatch, OutputForwarder, heartbeat_tick

__all__ = [
    "SYNC_BURST",
    "SYNC_WAIT",
    "HeartbeatLink",
    "refusal_monitor",
    "send_or_drop",
    "ship_output",
]

# Clock exchanges with the coordinator before the hello, so the first tasks are stamped on
# its clock already; a coordinator slower to answer than SYNC_WAIT seconds in all is measured
# by the heartbeats that follow instead.
SYNC_BURST = 5
SYNC_WAIT = 2.0


def send_or_drop(sock: zmq.Socket[bytes], parts: list[bytes]) -> bool:
    """Sends ``parts`` on the heartbeat socket without blocking; False if they were dropped.

    The socket has no high-water mark, so a send only fails when there is no connection to
    queue on at all: ZeroMQ drops the connection for good when the coordinator refuses this
    worker's key. A blocking send would then hang the heartbeat thread, and with it the
    death timeout that is to end this process."""
    try:
        sock.send_multipart(parts, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def ship_output(forwarder: Optional[OutputForwarder], sock: zmq.Socket[bytes]) -> None:
    """Sends what tasks printed since the last shipment (if output is forwarded) on
    ``sock``."""
    if forwarder is None:
        return
    message = forwarder.message()
    if message is not None:
        # A huge print would exceed what a coordinator with keys reads in one frame.
        send_or_drop(sock, cut(message) if len(message[1]) > MAX_FRAME else message)


def refusal_monitor(sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
    """A socket that becomes readable when the coordinator refuses ``sock``'s CURVE key.
    Made before ``sock`` connects, so that no refusal is missed. ZeroMQ tells a refused
    worker nothing else: without this, it would only see a silent coordinator."""
    return sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class HeartbeatLink:
    """The heartbeat side of worker ``name`` (socket identity ``identity``) connected to
    ``address``. ``clock`` is this host's monotonic clock (tests pass a skewed one); the
    watchdogs get ``death_timeout``, ``memory_limit`` and ``forwarder``; ``parent_pid`` and
    ``shm_dir`` are for :meth:`start_parent_watch`."""

    def __init__(
        self,
        identity: bytes,
        name: str,
        address: str,
        clock: Callable[[], float] = time.monotonic,
        *,
        period: float = 1.0,
        death_timeout: Optional[float] = None,
        memory_limit: Optional[int] = None,
        forwarder: Optional[OutputForwarder] = None,
        parent_pid: Optional[int] = None,
        shm_dir: Optional[str] = None,
    ) -> None:
        self.identity = identity
        self.name = name
        self.address = address
        self.clock = clock
        self.period = period
        self.death_timeout = death_timeout
        self.memory_limit = memory_limit
        self.forwarder = forwarder
        self.parent_pid = parent_pid
        self.shm_dir = shm_dir
        self.sync = OffsetEstimator()
        # ``clock`` minus the coordinator's, kept up to date by the heartbeat thread; the
        # main thread reads it per stamp: reading a float attribute needs no lock.
        self.correction = 0.0

    # ----- clocks --------------------------------------------------------------------------

    def now(self) -> float:
        """The coordinator's monotonic clock, as far as it is known here."""
        return self.clock() - self.correction

    def offset(self) -> Optional[tuple[float, float]]:
        """The offset and error last reported by the estimator (None: not measured yet)."""
        est = self.sync.reported
        return None if est is None else (est.offset, est.error)

    def ping(self, sock: zmq.Socket[bytes]) -> None:
        """Sends one heartbeat, stamped with this host's clock; dropped if the socket has no
        connection to queue it on (see :func:`send_or_drop`)."""
        send_or_drop(sock, cc.encode_ping(self.identity, self.name, self.clock(), self.offset()))

    def on_pong(self, frames: list[bytes]) -> None:
        """Takes the coordinator's answer to a ping as a clock sample."""
        received = self.clock()
        if len(frames) != 2 or frames[0] != p.HEARTBEAT:
            return
        try:
            sent, remote = cc.decode_pong(frames[1])
        except ValueError:
            return  # malformed: the beat still counts as a sign of life
        self.sync.add(sent, remote, received)
        self.correction = self.sync.correction

    def sync_burst(self, sock: zmq.Socket[bytes]) -> None:
        """Exchanges up to SYNC_BURST pings with the coordinator, SYNC_WAIT seconds at most
        in all."""
        deadline = time.monotonic() + SYNC_WAIT
        for _ in range(SYNC_BURST):
            self.ping(sock)
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000)):
                return
            while sock.poll(0):
                self.on_pong(sock.recv_multipart())

    # ----- threads -------------------------------------------------------------------------

    def start_heartbeats(
        self, sock: zmq.Socket[bytes], refusals: Optional[zmq.Socket[bytes]] = None
    ) -> None:
        """Starts the heartbeat thread on ``sock``, which it owns from now on, as it does
        ``refusals``: a monitor of the task socket's failed CURVE handshakes, if it has keys
        (see :func:`refusal_monitor`)."""
        threading.Thread(
            target=self._heartbeats, args=(sock, refusals), name="dagron-heartbeat", daemon=True
        ).start()

    def start_parent_watch(self) -> None:
        """Starts the thread that exits the process once its parent is gone (if a parent
        was named)."""
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, daemon=True).start()

    def _heartbeats(self, sock: zmq.Socket[bytes], refusals: Optional[zmq.Socket[bytes]]) -> None:
        """Pings the coordinator every period, measuring the clock offset with each answer,
        and ticks the watchdogs: ships tasks' output, leaves when the coordinator has been
        silent for ``death_timeout`` or memory goes over the limit."""
        tick = heartbeat_tick(self.period, self.forwarder is not None)
        death = DeathWatch(self.death_timeout, time.monotonic(), tick)
        memory = MemoryWatch(self.memory_limit)
        next_beat = death.last_heard
        while True:
            now = time.monotonic()
            if now >= next_beat:
                self.ping(sock)
                next_beat = now + self.period
            if sock.poll(int(tick * 1000)):
                while sock.poll(0):
                    self.on_pong(sock.recv_multipart())
                death.heard(time.monotonic())
            ship_output(self.forwarder, sock)
            if refusals is not None and refusals.poll(0):
                self._refused()
            if death.expired(time.monotonic()):
                self._coordinator_gone()
            rss = memory.over()
            if rss is not None:
                self._over_memory(sock, rss)

    def _watch_parent(self) -> None:
        # Re-parenting means the process that started us is gone: leave at once, even in the
        # middle of a task, rather than linger as an orphan.
        while True:
            time.sleep(0.2)
            if os.getppid() != self.parent_pid:
                if self.shm_dir is not None:  # nobody else is left to remove it
                    shutil.rmtree(self.shm_dir, ignore_errors=True)
                os._exit(p.EXIT_PARENT_GONE)

    def _coordinator_gone(self) -> None:
        print(
            f"dagron worker {self.name}: no word from the coordinator at {self.address} "
            f"for {self.death_timeout:g} s; exiting",
            file=sys.__stderr__,
            flush=True,
        )
        os._exit(p.EXIT_COORDINATOR_GONE)

    def _refused(self) -> None:
        print(
            f"dagron worker {self.name}: the coordinator at {self.address} refused this "
            "worker's key; give the worker a key directory the coordinator accepts (its "
            "worker.key, or a key in the coordinator's authorized/ directory)",
            file=sys.__stderr__,
            flush=True,
        )
        os._exit(p.EXIT_BAD_CONFIG)

    def _over_memory(self, sock: zmq.Socket[bytes], rss: int) -> None:
        send_or_drop(sock, cc.encode_memory(self.identity, rss, self.memory_limit or 0))
        sock.close(linger=1000)  # let the note go out before we do
        os._exit(p.EXIT_MEMORY)
