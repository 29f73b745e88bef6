"""The worker process: receive tasks, run them one at a time, send results back.

Started by the coordinator for local workers, or by ``dagron-worker`` on other hosts
(``python -m dagron.workers.worker ADDRESS``). It connects a DEALER socket to the
coordinator's ROUTER, says hello, and then loops. A second socket, served by a thread of its
own, exchanges heartbeats, so a long task does not look like a dead host and a vanished
coordinator is noticed even mid-task. The worker leaves by itself when told to, when the
process that started it is gone, or when the coordinator has been silent for
``death_timeout`` seconds, so no worker outlives its coordinator.

The heartbeat exchange also measures this process's clock against the coordinator's
(:mod:`~dagron.workers.clocksync`); tasks are stamped on the coordinator's clock.
"""

from __future__ import annotations

import argparse
import logging
import mmap
import os
import pickle
import shutil
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Optional, Union, cast

import zmq

from . import protocol as p
from . import results_codec as rc
from . import shm
from .clocksync import OffsetEstimator
from .output import ForwardingHandler, OutputBuffer, TaskStream
from .security import WorkerKeys, load_worker_keys
from .watchdog import DeathWatch, MemoryWatch, OutputForwarder, heartbeat_tick

__all__ = ["Worker", "main"]

# key, fn_id, argument frames (or forwarded results' pickles: protocol.forwarded_args)
_Task = tuple[int, int, Union[list[Any], p.ForwardedArgs]]

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_KEY = struct.Struct("<q")

# Reports of finished tasks wait in an outbox while more tasks are queued, and leave together
# (one message for many short tasks): before the next task starts once as many reports wait
# as tasks remain queued (so the coordinator tops the queue up in time), once the oldest has
# waited REPORT_AGE seconds or REPORT_BYTES bytes wait, and whenever the queue is empty.
REPORT_AGE = 0.001
REPORT_BYTES = 1 << 20
# A task's started notice travels with those reports. A task still running NOTICE_AFTER
# seconds after it began without one is announced (with any waiting reports) by a thread of
# the worker, so timeouts count from its real start and no report waits on a long task.
# Only a worker with a status page defers notices: if it dies, the coordinator reads there
# which task it was running. Others announce every task before it starts, as before.
NOTICE_AFTER = 0.005
LOOK_EVERY = 0.0002
# Clock exchanges with the coordinator before the hello, so the first tasks are stamped on
# its clock already; a coordinator slower to answer than SYNC_WAIT seconds in all is measured
# by the heartbeats that follow instead.
SYNC_BURST = 5
SYNC_WAIT = 2.0


class Worker:
    """One worker's loop: tasks on the main thread, heartbeats and watchdogs on another."""

    def __init__(
        self,
        address: str,
        name: str,
        parent_pid: Optional[int] = None,
        status_file: Optional[str] = None,
        shm_dir: Optional[str] = None,
        keys: Optional[WorkerKeys] = None,
        death_timeout: Optional[float] = None,
        memory_limit: Optional[int] = None,
        heartbeat_period: float = 1.0,
        forward_output: bool = False,
        log_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.name = name
        self.parent_pid = parent_pid
        self.keys = keys
        self.death_timeout = death_timeout
        self.memory_limit = memory_limit
        self.heartbeat_period = heartbeat_period
        # Task stamps: ``clock`` (this host's monotonic clock; tests pass a skewed one) minus
        # its measured offset from the coordinator's, which the heartbeat thread keeps up to
        # date; reading a float attribute needs no lock.
        self.clock = clock
        self.sync = OffsetEstimator()
        self._correction = 0.0
        self.output: Optional[OutputBuffer] = None
        if forward_output:
            self._forward_output(log_level)
        self.identity = b"w" + os.urandom(8).hex().encode()
        self.forwarder: Optional[OutputForwarder] = None
        if self.output is not None:
            self.forwarder = OutputForwarder(self.output, self.identity)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = self._socket(self.identity)
        self.functions: dict[int, Callable[..., Any]] = {}
        self.queue: Deque[_Task] = deque()
        # Reports of finished tasks not sent yet: they leave together, just before the next
        # task starts (with its started notice) or before the worker waits for work.
        self.outbox: list[tuple[tuple[Any, ...], list[Any]]] = []
        self._outbox_since = 0.0
        self._outbox_bytes = 0
        # The task socket, the outbox and the notice below are the main thread's while it
        # holds this lock, which it always does except while a task runs: the notice thread
        # takes it then to send on the same socket (a lock is the memory barrier ZeroMQ asks
        # for when a socket changes threads), so messages keep their order.
        self._lock = threading.Lock()
        self._unnoticed: Optional[tuple[int, float, float]] = None  # key, started, monotonic
        self._deferred = threading.Event()  # wakes the notice thread: a notice was deferred
        self._closing = False
        self.running = True
        # The key of the task being run, in a shared page the coordinator reads if this
        # process dies: a STARTED message can die with the process before it is flushed,
        # and the coordinator must not take a task that ran for one that never started.
        self.status: Optional[mmap.mmap] = None
        if status_file is not None:
            with open(status_file, "r+b") as f:
                self.status = mmap.mmap(f.fileno(), 8)
        # The coordinator's segment directory (local workers only): large result buffers go
        # there instead of into frames; see shm.py.
        self.shm_dir = shm_dir
        shm.worker_dir = shm_dir
        self._segments = 0
        self.handlers: dict[bytes, Callable[[list[Any]], None]] = {
            p.TASKS: self._on_tasks,
            p.CANCEL: self._on_cancel,
            p.SHUTDOWN: self._on_shutdown,
            p.REJOIN: self._on_rejoin,
            p.WELCOME: lambda frames: None,
        }

    def _forward_output(self, log_level: int) -> None:
        """Tasks' prints and log records go to the coordinator, tagged with the task."""
        self.output = OutputBuffer()
        sys.stdout = TaskStream(self.output, "stdout")
        sys.stderr = TaskStream(self.output, "stderr")
        root = logging.getLogger()
        root.handlers[:] = [ForwardingHandler(self.output)]
        root.setLevel(log_level)

    def _send_output(self, sock: zmq.Socket[bytes]) -> None:
        if self.forwarder is None:
            return
        message = self.forwarder.message()
        if message is not None:
            sock.send_multipart(message)

    def _socket(self, identity: bytes) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, identity)
        sock.setsockopt(zmq.LINGER, 2000)
        # No high-water mark on either side: the coordinator bounds what it sends through
        # prefetch credit, and a result must never be dropped or block the worker.
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        if self.keys is not None:
            sock.curve_secretkey = self.keys.secret
            sock.curve_publickey = self.keys.public
            sock.curve_serverkey = self.keys.server_public
        return sock

    # ----- life cycle ----------------------------------------------------------------------

    def run(self) -> None:
        self._lock.acquire()
        self.sock.connect(self.address)
        beats = self._socket(b"h" + self.identity[1:])
        beats.connect(self.address)
        self._sync_burst(beats)
        self._hello()
        threading.Thread(
            target=self._heartbeats, args=(beats,), name="dagron-heartbeat", daemon=True
        ).start()
        if self.status is not None:  # the only case where started notices are deferred
            threading.Thread(target=self._notices, name="dagron-notices", daemon=True).start()
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, daemon=True).start()
        try:
            events = cast(Callable[[int], int], self.sock.get)
            next_look = 0.0
            while self.running:
                if self.queue:
                    # Between tasks, look for news (a cancel, more work) at most every
                    # LOOK_EVERY seconds: asking the socket costs a system call.
                    now = time.monotonic()
                    if now >= next_look:
                        next_look = now + LOOK_EVERY
                        if events(_EVENTS) & _POLLIN:  # cheaper than a recv raising Again
                            self._drain(block=False)
                    if self.queue:
                        self._run_one(self.queue.popleft())
                else:
                    self._flush()
                    self._drain(block=True)
        finally:
            self._flush()
            self._closing = True
            self.sock.close(linger=2000)
            self._lock.release()

    def _hello(self) -> None:
        hello = (p.PROTOCOL_VERSION, os.getpid(), socket.gethostname(), self.name, self._offset())
        self.sock.send_multipart([p.HELLO, p.dump_header(hello)])

    # ----- clocks --------------------------------------------------------------------------

    def now(self) -> float:
        """The coordinator's monotonic clock, as far as it is known here."""
        return self.clock() - self._correction

    def _offset(self) -> Optional[tuple[float, float]]:
        est = self.sync.reported
        return None if est is None else (est.offset, est.error)

    def _ping(self, sock: zmq.Socket[bytes]) -> None:
        ping = (self.identity, self.name, self.clock(), self._offset())
        sock.send_multipart([p.HEARTBEAT, p.dump_header(ping)])

    def _on_pong(self, frames: list[bytes]) -> None:
        received = self.clock()
        if len(frames) != 2 or frames[0] != p.HEARTBEAT:
            return
        try:
            sent, remote = p.load_header(frames[1])
        except Exception:
            return  # malformed: the beat still counts as a sign of life
        if isinstance(sent, float) and isinstance(remote, float):
            self.sync.add(sent, remote, received)
            self._correction = self.sync.correction

    def _sync_burst(self, sock: zmq.Socket[bytes]) -> None:
        deadline = time.monotonic() + SYNC_WAIT
        for _ in range(SYNC_BURST):
            self._ping(sock)
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000)):
                return
            while sock.poll(0):
                self._on_pong(sock.recv_multipart())

    def _notices(self) -> None:
        """Announces a task that has run NOTICE_AFTER seconds without a started notice,
        sending the reports waiting before it along with it. Sleeps while no notice is
        deferred, so a long task is not disturbed (each wake-up costs it a GIL switch)."""
        while True:
            self._deferred.wait()
            time.sleep(NOTICE_AFTER)
            if not self._lock.acquire(blocking=False):
                continue  # the main thread is between tasks: look again later
            try:
                if self._closing:
                    return
                unnoticed = self._unnoticed
                if unnoticed is None:
                    self._deferred.clear()  # the main thread sets it again, under the lock
                elif time.monotonic() - unnoticed[2] >= NOTICE_AFTER:
                    self._unnoticed = None
                    self._flush(unnoticed[:2])
            finally:
                self._lock.release()

    def _watch_parent(self) -> None:
        # Re-parenting means the process that started us is gone: leave at once, even in the
        # middle of a task, rather than linger as an orphan.
        while True:
            time.sleep(0.2)
            if os.getppid() != self.parent_pid:
                if self.shm_dir is not None:  # nobody else is left to remove it
                    shutil.rmtree(self.shm_dir, ignore_errors=True)
                os._exit(p.EXIT_PARENT_GONE)

    def _heartbeats(self, sock: zmq.Socket[bytes]) -> None:
        """Pings the coordinator every period on a socket of its own, measuring the clock
        offset with each answer, and ticks the watchdogs: ships tasks' output, leaves when
        the coordinator has been silent for ``death_timeout`` or memory goes over the
        limit."""
        death = DeathWatch(self.death_timeout, time.monotonic())
        memory = MemoryWatch(self.memory_limit)
        next_beat = death.last_heard
        tick = heartbeat_tick(self.heartbeat_period, self.forwarder is not None)
        while True:
            now = time.monotonic()
            if now >= next_beat:
                self._ping(sock)
                next_beat = now + self.heartbeat_period
            if sock.poll(int(tick * 1000)):
                while sock.poll(0):
                    self._on_pong(sock.recv_multipart())
                death.heard(time.monotonic())
            self._send_output(sock)
            if death.expired(time.monotonic()):
                self._coordinator_gone()
            rss = memory.over()
            if rss is not None:
                self._over_memory(sock, rss)

    def _coordinator_gone(self) -> None:
        print(
            f"dagron worker {self.name}: no word from the coordinator at {self.address} "
            f"for {self.death_timeout:g} s; exiting",
            file=sys.__stderr__,
            flush=True,
        )
        os._exit(p.EXIT_COORDINATOR_GONE)

    def _over_memory(self, sock: zmq.Socket[bytes], rss: int) -> None:
        note = (self.identity, rss, self.memory_limit)
        sock.send_multipart([p.MEMORY, p.dump_header(note)])
        sock.close(linger=1000)  # let the note go out before we do
        os._exit(p.EXIT_MEMORY)

    def _drain(self, block: bool) -> None:
        """Handles every message waiting (at least one when ``block``)."""
        flags = 0 if block else zmq.NOBLOCK
        while True:
            try:
                frames = self.sock.recv_multipart(flags, copy=False)
            except zmq.Again:
                return
            handler = self.handlers.get(frames[0].bytes)
            if handler is not None:
                handler(frames[1:])
            flags = zmq.NOBLOCK

    # ----- handlers ------------------------------------------------------------------------

    def _on_tasks(self, frames: list[Any]) -> None:
        at = 1
        for key, fn_id, has_fn, args in p.load_header(frames[0].bytes):
            n_args = args if type(args) is int else 0
            if has_fn:
                try:
                    self.functions[fn_id] = pickle.loads(frames[at].buffer)
                except BaseException as exc:
                    self._bad_task(key, exc)
                    at += 1 + n_args
                    continue
                at += 1
            if n_args:
                self.queue.append((key, fn_id, [f.buffer for f in frames[at : at + n_args]]))
                at += n_args
            elif type(args) is tuple:  # forwarded results' pickles
                self.queue.append((key, fn_id, args))
            else:  # the arguments' pickle came in the header, or there are none
                self.queue.append((key, fn_id, [args] if args else []))

    def _on_cancel(self, frames: list[Any]) -> None:
        (key,) = p.load_header(frames[0].bytes)
        kept = [t for t in self.queue if t[0] != key]
        if len(kept) != len(self.queue):
            self.queue = deque(kept)

    def _on_shutdown(self, frames: list[Any]) -> None:
        self.running = False
        self.queue.clear()

    def _on_rejoin(self, frames: list[Any]) -> None:
        # The coordinator wrote us off (a network cut, a restart): whatever we hold was
        # given to others already.
        self.queue.clear()
        self._hello()

    # ----- running a task ------------------------------------------------------------------

    def _report(self, report: rc.Encoded) -> None:
        if not self.outbox:
            self._outbox_since = time.monotonic()
        frames = report[1]
        if self.shm_dir is not None and frames:
            rest, segment = self._to_segment(frames)
            if segment is not None:
                report = rc.with_segment(report[0], rest, segment)
                frames = rest
        self.outbox.append(report)
        for f in frames:
            self._outbox_bytes += len(f) if type(f) is bytes else memoryview(f).nbytes

    def _to_segment(self, frames: list[Any]) -> tuple[list[Any], Optional[tuple[Any, ...]]]:
        """Moves the large frames into a new shared-memory segment; returns the frames left
        and the segment's reference (None: all stay frames)."""
        big = tuple(
            i
            for i, f in enumerate(frames)
            if (len(f) if type(f) is bytes else memoryview(f).nbytes) >= shm.MIN_BYTES
        )
        if not big or self.shm_dir is None:
            return frames, None
        self._segments += 1
        name = f"{self.identity.decode()}-{self._segments}"
        try:
            sizes = shm.write_segment(os.path.join(self.shm_dir, name), [frames[i] for i in big])
        except OSError:
            return frames, None  # /dev/shm full or gone: the frames still work
        rest = [f for i, f in enumerate(frames) if i not in big]
        return rest, (name, big, tuple(sizes))

    def _report_due(self) -> bool:
        outbox = self.outbox
        return bool(outbox) and (
            len(outbox) >= len(self.queue)
            or self._outbox_bytes >= REPORT_BYTES
            or time.monotonic() - self._outbox_since >= REPORT_AGE
        )

    def _flush(self, started: Optional[tuple[int, float]] = None) -> None:
        """Sends the waiting reports and the notice that task ``started[0]`` begins now, as
        one message."""
        if not self.outbox:
            if started is not None:
                p.send_parts(self.sock, rc.encode_started(*started))
            return
        outbox, self.outbox = self.outbox, []
        self._outbox_bytes = 0
        parts = rc.encode_result_message(outbox, started)
        del outbox
        p.send_parts(self.sock, parts)

    def _bad_task(self, key: int, exc: BaseException) -> None:
        self._report(rc.encode_bad_task(key, exc, self.now()))

    def _run_one(self, task: _Task) -> None:
        key, fn_id, arg_frames = task
        fn = self.functions.get(fn_id)
        if fn is None:  # its function failed to load; already reported
            return
        try:
            if type(arg_frames) is tuple:
                args = p.load_forwarded(arg_frames)
            else:
                args = p.loads(arg_frames) if arg_frames else ()
        except BaseException as exc:
            self._bad_task(key, exc)
            return
        del arg_frames, task
        if self.status is not None:
            _KEY.pack_into(self.status, 0, key)
        started = self.now()
        if self.status is None or self._report_due():
            self._flush((key, started))
        else:  # announced with the next reports, or by the notice thread if it runs long
            self._unnoticed = (key, started, time.monotonic())
            if not self._deferred.is_set():
                self._deferred.set()
        if self.output is not None:
            self.output.current_key = key
        t0 = time.perf_counter()
        self._lock.release()
        try:
            value = fn(*args)
        except BaseException as exc:
            duration = time.perf_counter() - t0
            finished = self.now()
            self._lock.acquire()
            self._unnoticed = None
            self._end_output()
            self._send_error(key, exc, started, finished, duration)
            return
        duration = time.perf_counter() - t0
        finished = self.now()
        self._lock.acquire()
        self._unnoticed = None
        self._end_output()
        del args
        self._send_value(key, value, started, finished, duration)

    def _end_output(self) -> None:
        """Ships what the task printed before its result, on the same socket, so the
        caller sees a node's output before it hears the node finished."""
        if self.output is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        self._send_output(self.sock)
        self.output.current_key = None

    def _send_value(
        self, key: int, value: Any, started: float, finished: float, took: float
    ) -> None:
        self._report(rc.encode_value(key, value, started, finished, took))

    def _send_error(
        self, key: int, exc: BaseException, started: float, finished: float, took: float
    ) -> None:
        self._report(rc.encode_error(key, exc, started, finished, took))


def _skewed(skew: float) -> Callable[[], float]:
    def clock() -> float:
        return time.monotonic() + skew

    return clock


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="One dagron worker process.")
    parser.add_argument("address", help="the coordinator's ZeroMQ address")
    parser.add_argument("--name", default=f"{socket.gethostname()}/{os.getpid()}")
    parser.add_argument("--keys", default=None, help="directory of CURVE keys (dagron keygen)")
    parser.add_argument("--death-timeout", type=float, default=None)
    parser.add_argument("--memory-limit", type=int, default=None, help="bytes")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between pings")
    parser.add_argument(
        "--forward-output",
        action="store_true",
        help="send what tasks print and log to the coordinator's console",
    )
    parser.add_argument("--log-level", type=int, default=logging.WARNING, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--status-file", default=None, help=argparse.SUPPRESS)
    # Tests: a worker whose clock runs this many seconds ahead of the host's.
    parser.add_argument("--clock-skew", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--shm-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # The coordinator (or the nanny) owns Ctrl-C: a terminal's SIGINT reaches the whole
    # process group, and they decide what happens to running tasks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keys = load_worker_keys(args.keys) if args.keys else None
    Worker(
        args.address,
        args.name,
        parent_pid=args.parent_pid,
        status_file=args.status_file,
        shm_dir=args.shm_dir,
        keys=keys,
        death_timeout=args.death_timeout,
        memory_limit=args.memory_limit,
        heartbeat_period=args.heartbeat,
        forward_output=args.forward_output,
        log_level=args.log_level,
        clock=_skewed(args.clock_skew) if args.clock_skew else time.monotonic,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
