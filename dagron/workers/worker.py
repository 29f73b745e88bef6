"""The worker process: receive tasks, run them one at a time, send results back.

Started by the coordinator for local workers, or by ``dagron-worker`` on other hosts
(``python -m dagron.workers.worker ADDRESS``). It connects a DEALER socket to the
coordinator's ROUTER, says hello, and then loops. A second socket, served by a thread of its
own, exchanges heartbeats (:mod:`~dagron.workers.worker_heartbeat`), so a long task does
not look like a dead host and a vanished coordinator is noticed even mid-task. The worker
leaves by itself when told to, when the process that started it is gone, or when the
coordinator has been silent for ``death_timeout`` seconds, so no worker outlives its
coordinator.

The heartbeat exchange also measures this process's clock against the coordinator's
(:mod:`~dagron.workers.clocksync`); tasks are stamped on the coordinator's clock. Finished
tasks' reports leave in batches (:mod:`~dagron.workers.report_outbox`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Optional, Union, cast

import zmq

from ..errors import SecurityError
from . import control_codec as cc
from . import function_codec as fc
from . import protocol as p
from . import results_codec as rc
from . import shm
from .lifeline import die_with_parent
from .output import ForwardingHandler, OutputBuffer, TaskStream
from .pieces import MAX_FRAME
from .report_outbox import ReportOutbox
from .status_page import StatusPage
from .watchdog import OutputForwarder
from .worker_heartbeat import HeartbeatLink, refusal_monitor, ship_output

if TYPE_CHECKING:
    from .security import WorkerKeys

__all__ = ["Worker", "main"]

# key, fn_id, argument frames (or forwarded results' pickles: protocol.forwarded_args)
_Task = tuple[int, int, Union[list[Any], p.ForwardedArgs]]

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)

# Reports of finished tasks wait in an outbox (report_outbox.py) while more tasks are queued.
# A task's started notice travels with those reports. A task still running NOTICE_AFTER
# seconds after it began without one is announced (with any waiting reports) by a thread of
# the worker, so timeouts count from its real start and no report waits on a long task.
# Only a worker with a status page defers notices: if it dies, the coordinator reads there
# which task it was running. Others announce every task before it starts, as before.
NOTICE_AFTER = 0.005
LOOK_EVERY = 0.0002


def _forward_output(log_level: int) -> OutputBuffer:
    """Tasks' prints and log records go to the coordinator, tagged with the task, through
    the buffer returned."""
    output = OutputBuffer()
    sys.stdout = TaskStream(output, "stdout")
    sys.stderr = TaskStream(output, "stderr")
    root = logging.getLogger()
    root.handlers[:] = [ForwardingHandler(output)]
    root.setLevel(log_level)
    return output


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
        identity: Optional[bytes] = None,
    ) -> None:
        self.address = address
        self.name = name
        self.keys = keys
        # A nanny names its workers, to vouch for them and to be told which one to kill.
        self.identity = identity or b"w" + os.urandom(8).hex().encode()
        self.output = _forward_output(log_level) if forward_output else None
        self.forwarder: Optional[OutputForwarder] = None
        if self.output is not None:
            self.forwarder = OutputForwarder(self.output, self.identity)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        # Task stamps are on the coordinator's clock, as the heartbeat link measures it.
        self.heartbeat = HeartbeatLink(
            self.identity,
            name,
            address,
            clock,
            period=heartbeat_period,
            death_timeout=death_timeout,
            memory_limit=memory_limit,
            forwarder=self.forwarder,
            parent_pid=parent_pid,
            shm_dir=shm_dir,
        )
        self.now = self.heartbeat.now
        self.sock = self._socket(self.identity)
        self.functions: dict[int, Any] = {}  # with what they share (function_codec.py)
        # Functions that did not unpickle here, and why: every task using one is reported
        # failed with that reason (the coordinator sends a function once per worker).
        self.unloadable: dict[int, rc.LoadFailure] = {}
        # Mutated in place, never replaced: the outbox reads its length.
        self.queue: Deque[_Task] = deque()
        # Reports of finished tasks not sent yet: they leave together, just before the next
        # task starts (with its started notice) or before the worker waits for work.
        max_frame = MAX_FRAME if keys is not None else None
        self.outbox = ReportOutbox(
            self.sock, self.queue, self.identity, shm_dir, max_frame=max_frame
        )
        # Bound once: the hot path calls these per task.
        self._report = self.outbox.add
        self._report_due = self.outbox.due
        self._flush = self.outbox.flush
        # The task socket, the outbox and the notice below are the main thread's while it
        # holds this lock, which it always does except while a task runs: the notice thread
        # takes it then to send on the same socket (a lock is the memory barrier ZeroMQ asks
        # for when a socket changes threads), so messages keep their order.
        self._lock = threading.Lock()
        self._unnoticed: Optional[tuple[int, float, float]] = None  # key, started, monotonic
        self._deferred = threading.Event()  # wakes the notice thread: a notice was deferred
        self._closing = False
        self.running = True
        # Local workers: the task being run and when it began, for the coordinator (see
        # status_page.py): a task holding the GIL or a death can stop the STARTED notice.
        self.status = None if status_file is None else StatusPage(status_file)
        # The coordinator's segment directory (local workers only): large result buffers go
        # there instead of into frames; see shm.py.
        shm.worker_dir = shm_dir
        self.handlers: dict[bytes, Callable[[list[Any]], None]] = {
            p.TASKS: self._on_tasks,
            p.CANCEL: self._on_cancel,
            p.SHUTDOWN: self._on_shutdown,
            p.REJOIN: self._on_rejoin,
            p.FORGET: self._on_forget,
            p.WELCOME: lambda frames: None,
        }

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
        refusals = refusal_monitor(self.sock) if self.keys is not None else None
        self.sock.connect(self.address)
        beats = self._socket(b"h" + self.identity[1:])
        beats.connect(self.address)
        self.heartbeat.sync_burst(beats)
        # The heartbeat thread (and its death timeout) first: the hello blocks for good if
        # the coordinator refuses our key, and only that timeout then ends this process.
        self.heartbeat.start_heartbeats(beats, refusals)
        self._hello()
        if self.status is not None:  # the only case where started notices are deferred
            threading.Thread(target=self._notices, name="dagron-notices", daemon=True).start()
        self.heartbeat.start_parent_watch()
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
        offset = self.heartbeat.offset()
        self.sock.send_multipart(
            cc.encode_hello(os.getpid(), socket.gethostname(), self.name, offset)
        )

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
        fn_ids, tasks = p.load_header(frames[0].bytes)
        at = 1
        for fn_id in fn_ids:  # in load order: what a function refers to comes before it
            self._load_function(fn_id, frames[at].buffer)
            at += 1
        for key, fn_id, args in tasks:
            n_args = args if type(args) is int else 0
            if n_args:
                self.queue.append((key, fn_id, [f.buffer for f in frames[at : at + n_args]]))
                at += n_args
            elif type(args) is tuple:  # forwarded results' pickles
                self.queue.append((key, fn_id, args))
            else:  # the arguments' pickle came in the header, or there are none
                self.queue.append((key, fn_id, [args] if args else []))

    def _load_function(self, fn_id: int, data: Any) -> None:
        try:
            self.functions[fn_id] = fc.loads_function(data, self._shared)
        except fc.MissingShared as exc:  # it needs one that did not load: fails as that did
            failure = self.unloadable.get(exc.shared_id)
            self.unloadable[fn_id] = failure or rc.load_failure(exc, "task")
        except BaseException as exc:  # its tasks are reported failed when their turn comes
            self.unloadable[fn_id] = rc.load_failure(exc, "task")

    def _shared(self, fn_id: int) -> Any:
        try:
            return self.functions[fn_id]
        except KeyError:
            raise fc.MissingShared(fn_id) from None

    def _on_cancel(self, frames: list[Any]) -> None:
        key = cc.decode_cancel(frames[0].bytes)
        kept = [t for t in self.queue if t[0] != key]
        if len(kept) != len(self.queue):
            self.queue.clear()
            self.queue.extend(kept)

    def _on_shutdown(self, frames: list[Any]) -> None:
        self.running = False
        self.queue.clear()

    def _on_forget(self, frames: list[Any]) -> None:
        for fn_id in p.load_forget(frames[0].bytes):
            self.functions.pop(fn_id, None)

    def _on_rejoin(self, frames: list[Any]) -> None:
        # The coordinator wrote us off (a network cut, a restart): whatever we hold was
        # given to others already.
        self.queue.clear()
        self._hello()

    # ----- running a task ------------------------------------------------------------------

    def _bad_task(self, key: int, failure: rc.LoadFailure) -> None:
        self._report(rc.encode_bad_task(key, failure, self.now()))

    def _unloadable(self, key: int, fn_id: int) -> None:
        failure = self.unloadable.get(fn_id)
        if failure is None:  # never sent here: a coordinator's mistake, still reported
            failure = rc.load_failure(LookupError(f"function {fn_id} never reached it"), "task")
        self._bad_task(key, failure)

    def _run_one(self, task: _Task) -> None:
        key, fn_id, arg_frames = task
        fn = self.functions.get(fn_id)
        if fn is None:
            self._unloadable(key, fn_id)
            return
        started = self.now()  # its arguments' loading counts as part of its run
        # Announced before loading (which may hold the GIL for good), so its timeout counts;
        # a worker with a status page says there that it began.
        if self.status is None:
            self._flush((key, started))
        else:
            self.status.begin(key, started)
        try:
            if type(arg_frames) is tuple:
                args = p.load_forwarded(arg_frames)
            else:
                args = p.loads(arg_frames) if arg_frames else ()
        except BaseException as exc:
            self._bad_task(key, rc.load_failure(exc, "argument"))
            return
        del arg_frames, task
        if self.status is not None:
            if self._report_due():
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
        ship_output(self.forwarder, self.sock)
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
    parser.add_argument("--identity", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    # The coordinator (or the nanny) owns Ctrl-C: a terminal's SIGINT reaches the whole
    # process group, and they decide what happens to running tasks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        keys: Optional[WorkerKeys] = None
        if args.keys:  # CURVE keys: for remote workers (local ones talk over ipc)
            from .security import load_worker_keys

            keys = load_worker_keys(args.keys)
    except SecurityError as exc:
        print(f"dagron worker {args.name}: {exc}", file=sys.stderr, flush=True)
        return p.EXIT_BAD_CONFIG
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
        identity=args.identity.encode() if args.identity else None,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
