"""The coordinator: wires the socket, the local worker processes, heartbeats and the state
machine together.

:class:`~dagron.workers.transport.RouterTransport` carries the messages,
:class:`~dagron.workers.pool.LocalPool` runs the local worker processes and
:class:`~dagron.workers.state.CoordinatorState` decides what goes where. There is no
background thread. Whoever drives a run calls :meth:`Coordinator.wait`, which polls the
socket and the workers' exit notifications, feeds what happened to the state, carries out
its instructions and returns the completions for the executor's loop.

Workers stamp tasks on this process's ``time.monotonic()`` clock (they measure their offset
from it by the heartbeat exchange, see clocksync.py); completions carry those stamps moved to
the run's timeline (:mod:`dagron._clock`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Optional

import zmq

from .. import _clock
from .._clock import ClockOffset
from ..backends.base import Completion, Failed, Started, Succeeded
from ..errors import (
    SecurityError,
    WorkerLostError,
    WorkerStartError,
)
from . import protocol as p
from . import results_codec as rc
from . import shm
from .clocksync import OffsetBook
from .heartbeat import Heartbeats
from .output import show_log, show_output
from .pool import LocalPool, ProcessExited
from .remote import RemoteWorker, RemoteWorkers
from .report_frames import from_frames
from .security import CoordinatorKeys, is_loopback_endpoint, load_coordinator_keys
from .state import (
    CancelOnWorker,
    CoordinatorState,
    Dispatch,
    Instruction,
    KillWorker,
    TaskCancelled,
    TaskFinished,
    TaskLost,
    TasksAdded,
    TaskStarted,
    TopUp,
    WorkerExited,
    WorkerJoined,
    WorkerLeft,
    WorkerWrittenOff,
)
from .status import Status
from .task_table import TaskTable
from .transport import Handler, RouterTransport

__all__ = ["Coordinator", "RemoteWorker"]

log = logging.getLogger("dagron.workers")

_new = tuple.__new__  # builds a report without a named tuple's keyword handling

# The most tasks one worker holds when tasks are short (see CoordinatorState).
MAX_PREFETCH = 32


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
    n_workers: int, listen: Optional[str], keys: Optional[str]
) -> Optional[CoordinatorKeys]:
    """Checks who may connect (a listen address beyond loopback needs keys); returns the
    CURVE keys to serve with, if any."""
    if n_workers < 0 or (n_workers == 0 and listen is None):
        raise ValueError("n_workers must be at least 1 without a listen address")
    if listen is not None and keys is None and not is_loopback_endpoint(listen):
        raise SecurityError(
            f"refusing to listen on {listen} without keys: anyone who can reach it could "
            "run code here. Create keys with `dagron keygen DIR` and pass keys=DIR, or "
            "listen on a loopback address"
        )
    return load_coordinator_keys(keys) if keys is not None else None


class Coordinator:
    """Runs tasks on worker processes over ZeroMQ.

    By default it starts ``n_workers`` local workers and talks to them over ``ipc://`` in a
    fresh private directory (mode 0700), so only this user can reach it. With ``listen``
    (e.g. ``"tcp://0.0.0.0:7878"``) it also accepts workers that connect from elsewhere;
    listening beyond loopback needs ``keys`` (a ``dagron keygen`` directory): CURVE then
    authenticates both sides and encrypts the traffic.

    ``prefetch`` is how many tasks each worker holds at once (running plus queued); for
    tasks much shorter than a millisecond it holds more, up to ``MAX_PREFETCH``.
    Remote workers that stay silent for ``heartbeat_timeout`` seconds are declared lost
    and every task handed to them reported lost; local ones are watched through their
    process, and killed and replaced when they go that long without a heartbeat and without
    using CPU time (stopped, or hung).
    With ``shared_memory`` (where ``/dev/shm`` exists), local workers return large buffers
    through shared-memory segments rather than frames (see :mod:`dagron.workers.shm`).
    """

    def __init__(
        self,
        n_workers: int = 1,
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
    ) -> None:
        curve = _server_keys(n_workers, listen, keys)
        self.n_workers = n_workers
        self.memory_limit = memory_limit
        self.start_timeout = start_timeout
        self.keys = keys
        self.accepts_remote = listen is not None
        self.status = Status.STARTING
        self.state = CoordinatorState(prefetch, max(prefetch, MAX_PREFETCH))
        self.heartbeats: Heartbeats[bytes] = Heartbeats(heartbeat_period, heartbeat_timeout)
        self._dir = tempfile.mkdtemp(prefix="dagron-")
        self._transport = RouterTransport(
            listen if listen is not None else f"ipc://{self._dir}/coordinator",
            curve=curve,
            max_message_size=max_message_size,
        )
        self._send: Callable[[bytes, list[Any]], None] = self._transport.send
        self.address: str = self._transport.address
        self._pool = LocalPool(
            n_workers,
            self.address,
            self._dir,
            keys=keys,
            memory_limit=memory_limit,
            heartbeat_period=heartbeat_period,
            heartbeat_timeout=heartbeat_timeout,
        )
        # The pool's map of local workers by identity (result decoding checks a sender
        # against it); the pool changes it in place.
        self._by_id = self._pool.by_id
        # Made by start() for local workers; a coordinator of remote workers only has none.
        self._segments: Optional[shm.SegmentDir] = None
        self._shared_memory = shared_memory
        # Forwarded results go by segment name only where every worker is local.
        self._by_name = False
        self._remotes = RemoteWorkers(self.heartbeats)
        self._remote = self._remotes.by_id  # tested per result message: the dict itself
        self._table = TaskTable()
        self._tasks = self._table.tasks  # read per task reported: the dict itself
        self._add_task = self._table.add  # called per task submitted
        self._worker_names: dict[bytes, str] = {}
        self._offsets = OffsetBook()
        self._done: list[Completion] = []
        self._poller = zmq.Poller()
        self._poller_version = -1  # the pool's version whose pidfds it polls; -1: build it
        self._handlers: dict[bytes, Handler] = {
            p.HELLO: self._on_hello,
            p.STARTED: self._on_started,
            p.RESULT: self._on_result,
            p.HEARTBEAT: self._on_heartbeat,
            p.MEMORY: self._on_memory,
            p.OUTPUT: self._on_output,
        }

    # ----- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the local workers and waits until every one has said hello."""
        try:
            root = shm.shm_root() if self._shared_memory and self.n_workers else None
            if root is not None:
                self._segments = shm.SegmentDir(root)
                self._by_name = not self.accepts_remote
            self._pool.start(self._segments.path if self._segments is not None else None)
            deadline = time.monotonic() + self.start_timeout
            while len(self._by_id) < self.n_workers:  # local workers only
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerStartError(
                        f"{self.n_workers - len(self._by_id)} of {self.n_workers} workers did "
                        f"not connect within {self.start_timeout:.0f} s"
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
            bye(ident, [p.SHUTDOWN, p.dump_header(())])
        running_on = self.state.running_on
        self._pool.kill_busy(lambda ident: running_on(ident) is not None)
        if self._remote:
            time.sleep(0.2)  # let the requests to leave go out before the socket closes
        self._pool.close()
        self._transport.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._segments is not None:
            self._segments.close()
        self.status = Status.CLOSED

    @property
    def workers(self) -> list[dict[str, Any]]:
        """One entry per live worker: name, host, pid, slots, tasks done, local or not."""
        host = os.uname().nodename
        found = [(w.identity or b"", w.name, host, w.pid, True) for w in self._pool.procs.values()]
        found += [(ident, w.name, w.host, w.pid, False) for ident, w in self._remote.items()]
        slots = self.state.workers
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

    @property
    def clock_offsets(self) -> dict[str, ClockOffset]:
        """Worker name -> its clock's measured offset from this process's (seconds ahead)."""
        return self._offsets.snapshot()

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
        # A task submitted since the last wait() has not reached the state: dropping it is all.
        tid = self._table.cancel(key)
        if tid is not None:
            self._apply(self.state.handle(TaskCancelled(tid)))

    def cancel_all(self) -> None:
        """Abandons every task not yet reported (a run ending early)."""
        for key in list(self._table.tid_of):
            self.cancel(key)
        self._done.clear()

    def end_run(self) -> None:
        """A run on this (long-lived) coordinator is over: abandon what it left, and unlink
        its shared-memory segments (its results keep their mappings)."""
        self.cancel_all()
        if self._segments is not None:
            self._segments.release_all()

    # ----- waiting -------------------------------------------------------------------------

    def wait(self, timeout: Optional[float]) -> list[Completion]:
        """Returns the completions available, waiting up to ``timeout`` for the first."""
        if self._table.added:
            self._apply(self.state.handle(TasksAdded(self._table.take_added())))
        if not self._done:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._poll(left)
        done, self._done = self._done, []
        return self._table.translate(done)

    def _poll(self, timeout: Optional[float]) -> None:
        pool, sock = self._pool, self._transport.socket
        if pool.version != self._poller_version:  # workers came or went: poll the new pidfds
            self._poller = zmq.Poller()
            self._poller.register(sock, zmq.POLLIN)
            for fd in pool.exit_fds:
                self._poller.register(fd, zmq.POLLIN)
            self._poller_version = pool.version
        events = dict(self._poller.poll(_poll_ms(timeout, pool.wake_ms, self.heartbeats)))
        if sock in events:
            self._transport.read_messages(self._handlers)
        # Replaced only once running: a worker lost during start() fails it.
        for exited in pool.exited(events, self.status is Status.RUNNING):
            self._on_exit(exited)
        # Kills those over their memory limit or not answering: their exits are reported.
        pool.watch()
        if len(self.heartbeats):
            for lost in self._remotes.expired(time.monotonic()):
                log.warning("%s; declared lost", lost.reason)
                self._apply(self.state.handle(WorkerLeft(lost.ident, lost.reason)))

    # ----- events --------------------------------------------------------------------------

    def _on_hello(self, ident: bytes, frames: list[Any]) -> None:
        hello = p.load_header(frames[0])
        if hello[0] != p.PROTOCOL_VERSION:
            name = hello[3] if len(hello) > 3 else "?"
            log.warning(
                "refused worker %s: protocol %r, not %r", name, hello[0], p.PROTOCOL_VERSION
            )
            return
        _, pid, host, name, offset = hello
        if ident in self.state.workers:
            return  # a duplicate hello
        local = self._pool.joined(name, pid, ident)
        if not local and self.accepts_remote and isinstance(name, str) and isinstance(pid, int):
            self._remotes.join(ident, RemoteWorker(name, str(host), pid), time.monotonic())
            log.info("worker %s (pid %d on %s) joined", name, pid, host)
        elif not local:
            log.warning("refused a hello from %r: not a worker of this coordinator", name)
            return
        self._worker_names[ident] = name
        # Unlike _send, a peer that is gone raises here: it never joins.
        self._transport.socket.send_multipart(
            [ident, p.WELCOME, p.dump_header((p.PROTOCOL_VERSION,))]
        )
        self._apply(self.state.handle(WorkerJoined(ident, name)))
        self._note_offset(ident, offset)

    def _on_heartbeat(self, hb_ident: bytes, frames: list[Any]) -> None:
        worker, _name, sent, offset = p.load_header(frames[0])
        # Answer every beat (hellos are preceded by a few), so the worker knows the
        # coordinator lives; the answer carries this clock, to measure the worker's offset.
        if not isinstance(sent, float):
            raise ValueError("malformed clock reading")
        self._send(hb_ident, [p.HEARTBEAT, p.dump_header((sent, time.monotonic()))])
        self._note_offset(worker, offset)
        now = time.monotonic()
        self._pool.heard_from(worker, now)  # local workers' liveness
        if self._remotes.heard_from(worker, now):
            # Back after being declared lost (a cut link that healed): it must start over.
            self._send(worker, [p.REJOIN, p.dump_header(())])

    def _on_output(self, ident: bytes, frames: list[Any]) -> None:
        worker, chunks = p.load_header(frames[0])
        who = self._worker_names.get(worker)
        if who is None:
            return
        for key, stream, payload in chunks:
            node = self._table.node_name(key) if key is not None else None
            prefix = node or who
            if stream == "log":
                level, logger, message = payload
                show_log(prefix, int(level), str(logger), str(message))
            else:
                show_output(prefix, str(stream), str(payload))

    def _on_memory(self, hb_ident: bytes, frames: list[Any]) -> None:
        worker, rss, limit = p.load_header(frames[0])
        name = self._worker_names.get(worker)
        if name is None or worker not in self.state.workers:
            return
        reason = (
            f"worker {name} used {rss / 2**20:.0f} MiB, over its memory limit of "
            f"{limit / 2**20:.0f} MiB, and was restarted"
        )
        self._pool.set_exit_reason(worker, reason)
        self._apply(self.state.handle(WorkerWrittenOff(worker, reason)))
        self._remotes.forget(worker)

    def _note_offset(self, worker: bytes, offset: Any) -> None:
        name = self._worker_names.get(worker)
        if name is not None:
            self._offsets.note(name, offset)

    def _on_started(self, ident: bytes, frames: list[Any]) -> None:
        self._started(ident, *rc.decode_started(frames[0]))

    def _started(self, ident: bytes, key: int, started: float) -> None:
        if self.state.handle(TaskStarted(ident, key)):  # an IgnoreReport: stale news
            return
        at = _clock.wall(started)
        self._done.append(Started(key, at, self._worker_names[ident]))

    def _on_result(self, ident: bytes, frames: list[Any]) -> None:
        # Reports of tasks the worker finished, then maybe the task it begins now.
        reports, started = rc.decode_result_message(frames)
        if ident in self._remote:
            self.heartbeats.seen(ident, time.monotonic())
        try:
            for report in reports:
                self._finished(ident, report)
            if started is not None:
                self._started(ident, *started)
        finally:
            self._apply(self.state.handle(TopUp()))  # top the workers up, whatever came in

    def _finished(self, ident: bytes, report: rc.Report) -> None:
        key, status, started, finished, took, extra, _, segment = report
        segments = self._segments
        if segment is not None and (segments is None or ident not in self._by_id):
            raise ValueError("a shared-memory segment from a worker that has none")
        if self.state.handle(TaskFinished(ident, key, took)):  # an IgnoreReport: stale news
            if segment is not None and segments is not None:
                segments.discard(segment[0])  # nobody will read it
            return
        self._tasks.pop(key, None)
        worker = self._worker_names[ident]
        started, finished = _clock.wall(started), _clock.wall(finished)
        if status == p.OK_INLINE:  # the common case first: a small value, in the header
            value: Any = rc.decode_value(status, extra)
            self._done.append(_new(Succeeded, (key, value, started, finished, took, worker)))
            return
        node = self._table.node_of.get(key, "")
        self._done.append(from_frames(report, started, finished, worker, node, segments))

    def _on_exit(self, exited: ProcessExited) -> None:
        ident = exited.identity
        if ident is None:  # it never joined: no tasks to account for
            return
        if self._segments is not None:  # results it wrote but never sent
            self._segments.remove_strays(ident.decode() + "-")
        # Its status page says what it began: the STARTED notice may have died with it.
        self._apply(self.state.handle(WorkerExited(ident, exited.reason, exited.began)))

    # ----- instructions --------------------------------------------------------------------

    def _apply(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            if isinstance(ins, Dispatch):
                self._send(ins.worker, self._table.tasks_message(ins.keys, ins.with_fn))
            elif isinstance(ins, TaskLost):
                self._tasks.pop(ins.key, None)
                now = _clock.now()
                err = WorkerLostError(ins.reason)
                worker = self._worker_names.get(ins.worker, "?")
                self._done.append(Failed(ins.key, err, None, now, now, 0.0, worker))
            elif isinstance(ins, CancelOnWorker):
                self._send(ins.worker, [p.CANCEL, p.dump_header((ins.key,))])
            elif isinstance(ins, KillWorker):
                self._pool.kill(ins.worker, ins.reason)
