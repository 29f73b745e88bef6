"""The coordinator: wires the socket, the local worker processes, heartbeats and the state
machine together, and is the ``"processes"`` backend of :class:`~dagron.DAGExecutor`.

:class:`~dagron.workers.transport.RouterTransport` carries the messages,
:class:`~dagron.workers.pool.LocalPool` runs the local worker processes,
:class:`~dagron.workers.membership.Membership` answers the workers' own messages (hellos,
heartbeats, output), :class:`~dagron.workers.intake.ReportIntake` turns their task reports
into completions and :class:`~dagron.workers.state.CoordinatorState` decides what goes
where. There is no
background thread. Whoever drives a run calls :meth:`Coordinator.wait`, which polls the
socket and the workers' exit notifications, feeds what happened to the state, carries out
its instructions and returns the completions for the executor's loop.

As a backend it serves one run and stops its workers afterwards (sized by the run's
``max_workers``: what a ``backend="processes"`` run uses while another run holds the
default pool), or it keeps its workers warm for one run after another, a cluster's or the
default pool's (:mod:`~dagron.workers.default_pool`): runs then take turns driving it
(:class:`~dagron.workers.turns.Turns`) and each leaves it clean.

Workers stamp tasks on this process's ``time.monotonic()`` clock (they measure their offset
from it by the heartbeat exchange, see clocksync.py); completions carry those stamps moved to
the run's timeline (:mod:`dagron._clock`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from typing import Any, Callable, Optional

import zmq

from .._clock import ClockOffset
from ..backends.base import Backend, Capabilities, Completion
from ..errors import SecurityError, WorkerStartError
from . import control_codec as cc
from . import protocol as p
from . import shm
from . import start_method as sm
from .heartbeat import Heartbeats
from .intake import ReportIntake
from .janitor import Janitor
from .membership import Membership
from .pool import LocalPool, ProcessExited
from .remote import RemoteWorker
from .security import (
    CoordinatorKeys,
    is_loopback_endpoint,
    is_private_endpoint,
    load_coordinator_keys,
)
from .state import (
    CancelOnWorker,
    CoordinatorState,
    Dispatch,
    ForgetOnWorker,
    FunctionsReleased,
    Instruction,
    KillWorker,
    TaskCancelled,
    TaskLost,
    TasksAdded,
    WorkerExited,
    WorkerLeft,
    WorkersComing,
)
from .status import Status
from .task_table import TaskTable
from .transport import Handler, RouterTransport
from .turns import Turns

__all__ = ["Coordinator", "RemoteWorker"]

log = logging.getLogger("dagron.workers")

_new = tuple.__new__  # builds a report without a named tuple's keyword handling

# The most tasks one worker holds when tasks are short (see CoordinatorState).
MAX_PREFETCH = 32
# How often, while tasks are out, the local workers' status pages are read for a task begun
# without a started notice: one that keeps the GIL stops the worker's threads, notices too.
PAGE_LOOK_PERIOD = 0.05
_PAGE_LOOK_MS = int(PAGE_LOOK_PERIOD * 1000)


def _poll_ms(
    timeout: Optional[float], wake_ms: Optional[int], heartbeats: Heartbeats[bytes]
) -> Optional[int]:
    """How long one poll may block, in ms (None: until something happens): the caller's
    ``timeout``, cut short for the pool (``wake_ms``: a memory limit to check, a process to
    ask) and for the next heartbeat deadline."""
    wait_ms = None if timeout is None else max(0, int(timeout * 1000))
    if wake_ms is not None:
        wait_ms = wake_ms if wait_ms is None else min(wait_ms, wake_ms)
    if len(heartbeats):
        due = int(heartbeats.next_deadline(time.monotonic()) * 1000) + 1
        wait_ms = due if wait_ms is None else min(wait_ms, due)
    return wait_ms


def _server_keys(
    n_workers: int, listen: Optional[str], keys: Optional[str], insecure: bool
) -> Optional[CoordinatorKeys]:
    """Checks who may connect (TCP needs keys: loopback too, unless ``insecure``; beyond
    loopback, always); returns the CURVE keys to serve with, if any."""
    if n_workers < 0 or (n_workers == 0 and listen is None):
        raise ValueError("n_workers must be at least 1 without a listen address")
    if listen is not None and keys is None and not is_private_endpoint(listen):
        if not is_loopback_endpoint(listen):
            raise SecurityError(
                f"refusing to listen on {listen} without keys: anyone who can reach it could "
                "run code here. Create keys with `dagron keygen DIR` and pass keys=DIR"
            )
        if not insecure:
            raise SecurityError(
                f"refusing to listen on {listen} without keys: any process on this machine, "
                "of any user, could connect and run code here. Create keys with `dagron "
                "keygen DIR` and pass keys=DIR, or pass insecure=True if every local user "
                "is trusted"
            )
    return load_coordinator_keys(keys) if keys is not None else None


def _bind(
    listen: Optional[str], curve: Optional[CoordinatorKeys], max_message_size: int
) -> tuple[str, RouterTransport]:
    """A fresh private directory (mode 0700) and the socket, bound to ``listen`` or to an
    ``ipc://`` path in that directory. Nothing is left behind if binding fails (an address
    in use, say)."""
    private = tempfile.mkdtemp(prefix="dagron-")
    try:
        address = listen if listen is not None else f"ipc://{private}/coordinator"
        return private, RouterTransport(address, curve=curve, max_message_size=max_message_size)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise


class Coordinator(Backend):
    """Runs tasks on worker processes over ZeroMQ.

    By default it starts ``n_workers`` local workers (``None``: as many as the run it serves
    asks for) and talks to them over ``ipc://`` in a fresh private directory (mode 0700),
    so only this user can reach it. With ``listen``
    (e.g. ``"tcp://0.0.0.0:7878"``) it also accepts workers that connect from elsewhere;
    listening on TCP needs ``keys`` (a ``dagron keygen`` directory): CURVE then
    authenticates both sides and encrypts the traffic. Keyless TCP on a loopback address
    takes ``insecure=True``: any local process could then join and run code here.

    ``prefetch`` is how many tasks each worker holds at once (running plus queued); for
    tasks much shorter than a millisecond it holds more, up to ``MAX_PREFETCH``.
    Remote workers that stay silent for ``heartbeat_timeout`` seconds are declared lost
    and every task handed to them reported lost; local ones are watched through their
    process, and killed and replaced when they go that long without a heartbeat and without
    using CPU time (stopped, or hung). With ``shared_memory`` (where ``/dev/shm`` exists),
    local workers return large buffers through shared-memory segments rather than frames
    (see :mod:`dagron.workers.shm`). With ``turns`` it serves one run after another, for a
    cluster or the default pool (see :meth:`start`); without, it serves a single run.
    ``start_method``: local workers are forked by a fork server (``"forkserver"``, the
    default on Linux) or ``"spawn"``-ed; see :mod:`~dagron.workers.start_method`.
    """

    name = "processes"
    capabilities = Capabilities(clock_offsets=True, memory_limit=True)

    def __init__(
        self,
        n_workers: Optional[int] = None,
        *,
        prefetch: int = 2,
        memory_limit: Optional[int] = None,
        start_timeout: float = 60.0,
        listen: Optional[str] = None,
        keys: Optional[str] = None,
        heartbeat_period: float = 1.0,
        heartbeat_timeout: float = 5.0,
        max_message_size: int = 2**31,
        shared_memory: bool = True,
        insecure: bool = False,
        turns: Optional[Turns] = None,
        start_method: Optional[sm.StartMethod] = None,
    ) -> None:
        curve = _server_keys(1 if n_workers is None else n_workers, listen, keys, insecure)
        self.start_method = sm.resolve(start_method)
        self._sized_by_run = n_workers is None
        self.n_workers = n_workers or 0
        self._turns = turns
        self.memory_limit = memory_limit
        self.start_timeout = start_timeout
        self.accepts_remote = listen is not None
        self.status = Status.STARTING
        self.state = CoordinatorState(prefetch, max(prefetch, MAX_PREFETCH))
        self.heartbeats: Heartbeats[bytes] = Heartbeats(heartbeat_period, heartbeat_timeout)
        self._dir, self._transport = _bind(listen, curve, max_message_size)
        # Removes the directory, and ends the workers, if this process dies without close().
        self._janitor = Janitor()
        self._janitor.remove_path(self._dir)
        self._send: Callable[[bytes, list[Any]], None] = self._transport.send
        self.address: str = self._transport.address
        self._pool = LocalPool(
            self.n_workers,
            self.address,
            self._dir,
            keys=keys,
            memory_limit=memory_limit,
            janitor=self._janitor,
            heartbeat_period=heartbeat_period,
            heartbeat_timeout=heartbeat_timeout,
            start_method=self.start_method,
        )
        # The pool's map of local workers by identity (result decoding checks a sender
        # against it); the pool changes it in place.
        self._by_id = self._pool.by_id
        # Made by start() for local workers; a coordinator of remote workers only has none.
        self._segments: Optional[shm.SegmentDir] = None
        self._shared_memory = shared_memory
        # Forwarded results go by segment name only where every worker is local.
        self._by_name = False
        self._table = TaskTable()
        self._tasks = self._table.tasks  # read per poll: the dict itself
        self._add_task = self._table.add  # called per task submitted
        beats, state, table = self.heartbeats, self.state, self._table
        members = self._members = Membership(
            self._transport, self._pool, beats, state, table, self.accepts_remote
        )
        self._remotes = members.remotes
        self._done: list[Completion] = []  # never rebound: the intake appends to it
        self._intake = ReportIntake(
            state, table, members.names, self._by_id, members.remotes, beats, self._done
        )
        self._poller = zmq.Poller()
        self._poller_version = -1  # the pool's version whose pidfds it polls; -1: build it
        self._next_page_look = 0.0
        self._handlers: dict[bytes, Handler] = {
            p.HELLO: self._on_hello,
            p.STARTED: self._intake.on_started,
            p.RESULT: self._on_result,
            p.HEARTBEAT: self._members.heartbeat,
            p.MEMORY: self._on_memory,
            p.OUTPUT: self._members.output,
            p.VOUCH: self._members.vouch,
        }

    # ----- the backend contract ------------------------------------------------------------

    def start(self, max_workers: int) -> None:
        """A run begins: a coordinator of its own opens (with ``max_workers`` workers if it
        was made without a number); a cluster's waits for its turn (runs take turns)."""
        if self._turns is None:
            if self._sized_by_run:
                self.n_workers = self._pool.size = max_workers
            self.open()
            workers = self.n_workers
        else:
            if self.status is not Status.RUNNING:
                raise RuntimeError(f"this cluster is {self.status.value}")
            self._turns.take()
            # Local workers count while being replaced or started: they are there soon.
            workers = max(1, self.n_workers, len(self.state.workers) + self._pool.starting())
        self.slots = workers
        # Enough submissions in flight that every worker has its next tasks queued, as many
        # as the state may hand one worker when tasks are short (it holds the rest).
        self.capacity = workers * self.state.max_prefetch

    def shutdown(self, wait: bool) -> None:
        """The run is over: a coordinator of its own closes; a cluster's is left clean
        (what the run left queued or running is abandoned) for the next run."""
        if self._turns is None:
            self.close()
            return
        try:
            self.end_run()
        finally:
            self._turns.give_back()

    def limit_memory(self, limit: int) -> None:
        """Restarts a local worker whose resident memory goes over ``limit`` bytes; for a
        coordinator made for one run, before :meth:`start`."""
        if self._turns is not None or self.status is not Status.STARTING:
            raise ValueError(
                "memory_limit cannot be set for a run on a cluster, whose workers are running "
                "already: give it to the cluster, e.g. LocalCluster(memory_limit=...)"
            )
        self.memory_limit = self._pool.memory_limit = limit

    def clock_offsets(self) -> dict[str, ClockOffset]:
        """Worker name -> its clock's measured offset from this process's (seconds ahead)."""
        return self._members.offsets.snapshot()

    # ----- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Starts the local workers and waits until one has said hello (the others join as
        they come); :class:`WorkerStartError` if one ends first, or none is in time."""
        try:
            root = shm.shm_root() if self._shared_memory and self.n_workers else None
            if root is not None:
                self._segments = self._intake.segments = shm.SegmentDir(root)
                self._janitor.remove_path(self._segments.path)
                self._by_name = not self.accepts_remote
            self._pool.start(self._segments.path if self._segments is not None else None)
            self.state.handle(WorkersComing(self.n_workers))  # no queues on the first to join
            deadline = time.monotonic() + self.start_timeout
            while self.n_workers and not self._by_id:  # local workers only
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerStartError(
                        f"none of {self.n_workers} workers connected within "
                        f"{self.start_timeout:.0f} s"
                    )
                self._poll(left)
                self._pool.check_start()
            self.status = Status.RUNNING
        except BaseException:
            self.close()
            raise

    def wait_for_workers(self, n: int, timeout: Optional[float] = None) -> None:
        """Blocks until at least ``n`` workers (local and remote) are connected."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.state.workers) < n:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WorkerStartError(
                    f"{len(self.state.workers)} of {n} workers connected within {timeout} s"
                )
            self._poll(left if left is None else min(left, 0.5))

    def close(self) -> None:
        """Tells every worker (remote ones too) to leave, kills local ones that do not,
        removes the socket."""
        if self.status is Status.CLOSED:
            return
        self.status = Status.CLOSING
        bye = self._transport.send_if_possible
        for ident in list(self.state.workers) + list(self._by_id):
            bye(ident, cc.shutdown_message())
        running_on = self.state.running_on
        self._pool.kill_busy(lambda ident: running_on(ident) is not None)
        if self._remotes.by_id:
            time.sleep(0.2)  # let the requests to leave go out before the socket closes
        self._pool.close()
        self._transport.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._segments is not None:
            self._segments.close()
        self._janitor.close()
        self.status = Status.CLOSED

    @property
    def workers(self) -> list[dict[str, Any]]:
        """One entry per live worker: name, host, pid, slots, tasks done, local or not."""
        return self._members.listing()

    # ----- submitting ----------------------------------------------------------------------

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        """Queues ``fn(*args)`` under ``key``. A callable or argument that cannot be pickled
        is reported at once as a :class:`SerializationError` completion for ``key``."""
        failed = self._add_task(key, fn, args, name, self._by_name)
        if failed is not None:
            self._done.append(failed)

    def cancel(self, key: int) -> None:
        """Gives up on ``key``: dropped where it waits; a worker that began it is replaced."""
        tid = self._table.cancel(key)  # None: not in the state yet: dropping it is all
        if tid is not None:
            if tid in self.state.where:  # on a worker, which may have begun it unannounced
                self._intake.from_pages(self._pool.begun())
            self._apply(self.state.handle(TaskCancelled(tid)))

    def cancel_all(self) -> None:
        """Abandons every task not yet reported (a run ending early)."""
        for key in list(self._table.tid_of):
            self.cancel(key)
        self._done.clear()
        self._table.cancelled.clear()  # the next run's keys start again from 0

    def end_run(self) -> None:
        """A run on this (long-lived) coordinator is over: abandon what it left, unlink its
        shared-memory segments (its results keep their mappings), and release its functions
        if they are large (see :meth:`TaskTable.release_functions`)."""
        self.cancel_all()
        if self._segments is not None:
            self._segments.release_all()
        released = self._table.release_functions()
        if released:  # large ones: the next run would otherwise keep them all alive
            self._apply(self.state.handle(FunctionsReleased(released)))

    # ----- waiting -------------------------------------------------------------------------

    def wait(self, timeout: Optional[float]) -> list[Completion]:
        """Returns the completions available, waiting up to ``timeout`` for the first."""
        if self._table.added:
            self._apply(self.state.handle(TasksAdded(*self._table.take_added())))
        if not self._done:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._poll(left)
        out = self._table.live(self._done)
        self._done.clear()
        return out

    def _poll(self, timeout: Optional[float]) -> None:
        pool, sock = self._pool, self._transport.socket
        if pool.version != self._poller_version:  # workers came or went: poll the new pidfds
            self._poller = zmq.Poller()
            self._poller.register(sock, zmq.POLLIN)
            for fd in pool.exit_fds:
                self._poller.register(fd, zmq.POLLIN)
            self._poller_version = pool.version
        wait_ms = _poll_ms(timeout, pool.wake_ms, self.heartbeats)
        looking = bool(self._tasks) and bool(self._by_id)  # tasks out on local workers
        if looking and (wait_ms is None or wait_ms > _PAGE_LOOK_MS):
            wait_ms = _PAGE_LOOK_MS
        events = dict(self._poller.poll(wait_ms))
        if sock in events:
            self._transport.read_messages(self._handlers)
        if looking:
            now = time.monotonic()
            if now >= self._next_page_look:
                self._next_page_look = now + PAGE_LOOK_PERIOD
                self._intake.from_pages(pool.begun())
        # Replaced only once running: a worker lost during start() fails it.
        for exited in pool.exited(events, self.status is Status.RUNNING):
            self._on_exit(exited)
        # Kills those over their memory limit or not answering: their exits are reported.
        pool.watch()
        if len(self.heartbeats):
            for lost in self._remotes.expired(time.monotonic()):
                log.warning("%s; declared lost", lost.reason)
                self._apply(self.state.handle(WorkerLeft(lost.ident, lost.reason)))
                if lost.nanny is not None:  # stuck, its host reachable: the nanny replaces it
                    self._send(lost.nanny, cc.encode_kill(lost.ident, lost.reason))

    # ----- events --------------------------------------------------------------------------

    def _on_hello(self, ident: bytes, frames: list[Any]) -> None:
        joined = self._members.hello(ident, frames)
        if joined is not None:  # while local workers are starting, say how many still are
            coming = (WorkersComing(self._pool.starting()),) if self.state.coming else ()
            self._apply(self.state.handle(joined, *coming))

    def _on_memory(self, ident: bytes, frames: list[Any]) -> None:
        over = self._members.memory(ident, frames)
        if over is not None:
            self._apply(self.state.handle(over))

    def _on_result(self, ident: bytes, frames: list[Any]) -> None:
        self._apply(self._intake.on_result(ident, frames))

    def _on_exit(self, exited: ProcessExited) -> None:
        ident = exited.identity
        if ident is None:  # it never joined: no tasks to account for; a failed start if none did
            if self.status is Status.STARTING:
                raise WorkerStartError(f"{exited.reason} at start")
            return
        if self._segments is not None:  # results it wrote but never sent
            self._segments.remove_strays(ident.decode() + "-")
        # Its status page says what it began: the STARTED notice may have died with it.
        self._apply(self.state.handle(WorkerExited(ident, exited.reason, exited.began)))

    # ----- instructions --------------------------------------------------------------------

    def _apply(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            if isinstance(ins, Dispatch):
                self._send(ins.worker, self._table.tasks_message(ins.keys, ins.fn_ids))
            elif isinstance(ins, TaskLost):
                self._intake.lost(ins)
            elif isinstance(ins, CancelOnWorker):
                self._send(ins.worker, cc.encode_cancel(ins.key))
            elif isinstance(ins, KillWorker):
                self._pool.kill(ins.worker, ins.reason)
                # A remote one is killed by its host's nanny.
                nanny = self._remotes.kill_order(ins.worker, ins.reason)
                if nanny is not None:
                    self._send(nanny, cc.encode_kill(ins.worker, ins.reason))
            elif isinstance(ins, ForgetOnWorker):
                self._send(ins.worker, p.forget_message(ins.fn_ids))
