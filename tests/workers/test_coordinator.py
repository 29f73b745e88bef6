"""The coordinator with real worker processes: results, errors, faults, clean-up."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from typing import Any

import numpy as np
import psutil
import pytest
import zmq
import zmq.auth

from dagron.backends.base import Failed, Started, Succeeded
from dagron.errors import RemoteTaskError, SecurityError, SerializationError, WorkerLostError
from dagron.workers import protocol as p
from dagron.workers.coordinator import Coordinator
from dagron.workers.protocol import SerializedValue
from dagron.workers.status import Status
from dagron.workers.testing import collect, hog_memory, running_coordinator
from dagron.workers.turns import Turns


class Unpicklable(Exception):
    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("not today")


def raise_unpicklable() -> None:
    raise Unpicklable("boom")


def test_coordinator_refuses_keyless_tcp_without_the_opt_in() -> None:
    with pytest.raises(SecurityError, match="insecure=True"):
        Coordinator(0, listen="tcp://127.0.0.1:*")


def hold_the_gil(seconds: float) -> int:
    """Runs ever longer regular expression matches that backtrack in C, holding the GIL,
    until one has lasted ``seconds``; returns the longest input's length."""
    import re

    pattern = re.compile(r"(a*)*b")
    n = 16
    while True:
        t0 = time.monotonic()
        pattern.match("a" * n)
        if time.monotonic() - t0 >= seconds:
            return n
        n += 1


def test_coordinator_runs_tasks_and_returns_serialized_values() -> None:
    with running_coordinator(2) as c:
        for k in range(10):
            c.submit(k, pow, (2, k), f"n{k}")
        done = collect(c, set(range(10)))
    for k in range(10):
        report = done[k]
        assert isinstance(report, Succeeded)
        _key, value, started, finished, duration, worker = report
        assert isinstance(value, SerializedValue)
        assert value.load() == 2**k
        assert started <= finished and duration >= 0
        assert worker.rsplit("/", 1)[-1].startswith("w")


def test_coordinator_sends_lambdas_and_closures() -> None:
    base = 40
    with running_coordinator(1) as c:
        c.submit(1, lambda x: x + base, (2,), "a")
        assert collect(c, {1})[1].value.load() == 42


def test_coordinator_sends_callables_that_capture_buffers() -> None:
    captured = bytearray(b"x" * 100_000)  # pickle 5 would put it out of band
    with running_coordinator(1) as c:
        c.submit(1, lambda: len(captured), (), "closure")
        assert collect(c, {1})[1].value.load() == 100_000


def test_coordinator_raw_bytes_and_buffers_move_out_of_band() -> None:
    payload = bytes(range(256)) * 4096
    with running_coordinator(1) as c:
        c.submit(1, bytes, (payload,), "bytes")
        c.submit(2, bytearray, (payload,), "bytearray")
        done = collect(c, {1, 2})
    assert done[1].value.load() == payload
    assert done[2].value.load() == bytearray(payload)
    # A forwarded value pickles as its frames, and comes back equal.
    assert pickle.loads(pickle.dumps(done[2].value, protocol=5)) == bytearray(payload)


def test_coordinator_task_exception_keeps_type_and_traceback() -> None:
    with running_coordinator(1) as c:
        c.submit(1, int, ("x",), "parse")
        c.submit(2, raise_unpicklable, (), "weird")
        done = collect(c, {1, 2})
    _, err, tb, *_ = done[1]
    assert isinstance(done[1], Failed) and isinstance(err, ValueError)
    assert tb is not None and "invalid literal" in str(err) and "Traceback" in tb
    _, err, tb, *_rest, worker = done[2]
    assert isinstance(err, RemoteTaskError)
    assert err.type_name == "Unpicklable" and "boom" in str(err)
    assert tb is not None and "raise_unpicklable" in tb and err.worker == worker


def test_coordinator_unpicklable_argument_and_result() -> None:
    lock = threading.Lock()
    with running_coordinator(1) as c:
        c.submit(1, len, ([1, lock],), "arg")
        c.submit(2, threading.Lock, (), "result")
        done = collect(c, {1, 2})
    err = done[1].error
    assert isinstance(err, SerializationError)
    assert err.node_name == "arg" and err.type_name == "_thread.lock" and err.what == "argument"
    err = done[2].error
    assert isinstance(err, SerializationError)
    assert err.node_name == "result" and err.what == "result" and "lock" in err.type_name


def test_coordinator_worker_killed_mid_task_is_reported_and_replaced() -> None:
    with running_coordinator(1) as c:
        c.submit(1, time.sleep, (60,), "sleepy")
        started = [x for x in c.wait(30) if type(x) is Started]
        assert started, "the task should have started"
        pid = c.workers[0]["pid"]
        os.kill(pid, signal.SIGKILL)
        done = collect(c, {1}, timeout=30)
        err = done[1].error
        assert isinstance(err, WorkerLostError)
        assert "signal 9" in str(err) and "SIGKILL" in str(err)
        # The pool is back at strength and keeps working.
        c.submit(2, abs, (-5,), "after")
        assert collect(c, {2})[2].value.load() == 5
        assert c.workers[0]["pid"] != pid


@pytest.mark.timeout(60)
def test_coordinator_stopped_worker_is_killed_replaced_and_its_task_lost() -> None:
    # A SIGSTOPped worker never exits and sends nothing: without a task timeout only its
    # missing heartbeats tell. It must be killed (SIGKILL works on a stopped process).
    with running_coordinator(1, heartbeat_period=0.2, heartbeat_timeout=1.0) as c:
        c.submit(1, time.sleep, (60,), "frozen")
        assert any(type(x) is Started for x in c.wait(30))
        pid = c.workers[0]["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            err = collect(c, {1}, timeout=30)[1].error
        finally:
            if psutil.pid_exists(pid) and psutil.Process(pid).status() == psutil.STATUS_STOPPED:
                os.kill(pid, signal.SIGKILL)  # the fix failed: leave nothing behind
        assert isinstance(err, WorkerLostError) and "stopped answering" in str(err)
        c.submit(2, abs, (-3,), "after")
        assert collect(c, {2}, timeout=30)[2].value.load() == 3
        assert c.workers[0]["pid"] != pid
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


@pytest.mark.timeout(60)
def test_coordinator_silent_worker_busy_holding_the_gil_is_left_alone() -> None:
    # A long C call holding the GIL starves the heartbeat thread, but the process works.
    with running_coordinator(1, heartbeat_period=0.2, heartbeat_timeout=1.0) as c:
        c.submit(1, hold_the_gil, (1.8,), "busy")  # one call of 1.8 s or more
        assert collect(c, {1}, timeout=45)[1].value.load() > 16


def test_coordinator_cancel_running_task_kills_its_worker() -> None:
    with running_coordinator(1) as c:
        c.submit(1, time.sleep, (60,), "stuck")
        c.submit(2, abs, (-1,), "queued-behind")
        assert any(type(x) is Started and x[0] == 1 for x in c.wait(30))
        pid = c.workers[0]["pid"]
        c.cancel(1)
        done = collect(c, {2}, timeout=30)
        assert done[2].value.load() == 1
        assert c.workers[0]["pid"] != pid


def test_coordinator_cancel_of_a_task_begun_unannounced_kills_its_worker() -> None:
    # The worker began the task, but its STARTED notice is not read yet (nobody drove the
    # coordinator meanwhile): a cancel must not take it for queued, or the task runs on,
    # and with it whatever it started, on a worker that stays for the next run.
    with running_coordinator(1) as c:
        pid = c.workers[0]["pid"]
        c.submit(1, time.sleep, (60,), "stuck")
        c.wait(0)  # hands it out
        deadline = time.monotonic() + 30
        while psutil.Process(pid).cpu_times().user == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # it has begun, its notice waits in the socket
        c.cancel(1)
        c.submit(2, os.getpid, (), "next")
        done = collect(c, {2}, timeout=30)
        assert done[2].value.load() != pid, "the cancelled task kept its worker"
        assert psutil.pid_exists(pid) is False or psutil.Process(pid).status() == "zombie"


def test_coordinator_memory_limit_restarts_worker() -> None:
    with running_coordinator(1, memory_limit=200 * 2**20) as c:
        c.submit(1, hog_memory, (), "hog")
        done = collect(c, {1}, timeout=60)
        err = done[1].error
        assert isinstance(err, WorkerLostError)
        assert "memory limit" in str(err)
        c.submit(2, abs, (-2,), "fine")
        assert collect(c, {2})[2].value.load() == 2


def test_coordinator_close_stops_every_worker() -> None:
    c = Coordinator(2)
    c.open()
    pids = [w["pid"] for w in c.workers]
    c.close()
    c.close()  # twice is fine
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_coordinator_crash_leaves_no_orphans() -> None:
    import subprocess
    import sys

    import psutil

    script = (
        "import os, sys\n"
        "from dagron.workers.coordinator import Coordinator\n"
        "c = Coordinator(2); c.open()\n"
        "print(c._segments.path, flush=True)\n"
        "print(' '.join(str(w['pid']) for w in c.workers), flush=True)\n"
        "os._exit(1)\n"  # dies without closing anything
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    segments, *words = out.stdout.split()
    pids = [int(p) for p in words]
    assert len(pids) == 2, out.stderr
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        time.sleep(0.05)
    assert alive == [], "workers outlived their coordinator"
    assert not os.path.exists(segments), "its shared-memory directory outlived it"


def test_coordinator_reports_do_not_wait_behind_a_long_task() -> None:
    with running_coordinator(1) as c:
        for k in range(40):  # short tasks: the worker's queue deepens
            c.submit(k, abs, (-k,), f"warm{k}")
        collect(c, set(range(40)))
        c.submit(40, abs, (-40,), "a")
        c.submit(41, abs, (-41,), "b")
        c.submit(42, time.sleep, (60,), "long")  # queued right behind them
        for k in range(43, 60):
            c.submit(k, abs, (-k,), f"after{k}")
        # The long task is announced, and the reports before it arrive, while it runs.
        seen: dict[tuple[int, bool], Any] = {}
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            for x in c.wait(1):
                seen[(x[0], type(x) is Started)] = x
        assert (42, True) in seen, "the long task was never announced"
        assert seen[(40, False)].value.load() == 40 and seen[(41, False)].value.load() == 41
        c.cancel(42)  # kills its worker; the tasks queued behind it run on the replacement
        rest = collect(c, set(range(43, 60)), timeout=60)
        assert all(rest[k].value.load() == k for k in range(43, 60))


def test_coordinator_answers_a_heartbeat_with_its_monotonic_clock() -> None:
    with running_coordinator(1) as c:
        ctx = zmq.Context()
        peer = ctx.socket(zmq.DEALER)
        peer.connect(c.address)
        try:
            before = time.monotonic()
            peer.send_multipart([p.HEARTBEAT, p.dump_header((b"w-none", "none", 12.5, None))])
            deadline = time.monotonic() + 30
            while not peer.poll(0) and time.monotonic() < deadline:
                c.wait(0.05)
            kind, header = peer.recv_multipart(zmq.NOBLOCK)
            after = time.monotonic()
        finally:
            peer.close(linger=0)
            ctx.term()
    assert kind == p.HEARTBEAT
    sent, now = p.load_header(header)
    assert sent == 12.5  # echoed, so the worker pairs the answer with its ping
    assert before <= now <= after


def test_coordinator_knows_each_worker_clock_offset_from_its_hello() -> None:
    # The worker measures its offset before it says hello, so it is known before any task.
    with running_coordinator(2) as c:
        offsets = c.clock_offsets()
        assert set(offsets) == {w["name"] for w in c.workers}
    for o in offsets.values():
        # one machine, one clock: 0 within the measured error, which is a round trip at most
        assert o.measured and abs(o.offset) <= o.error < 1.0


BIG = 2 * 2**20  # past shm.MIN_BYTES: travels through a shared-memory segment


def big_bytes(n: int) -> bytes:
    return bytes(range(256)) * (n // 256)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def segment_files(c: Coordinator) -> list[str]:
    assert c._segments is not None
    return sorted(os.listdir(c._segments.path))


def test_coordinator_large_results_come_back_through_shared_memory() -> None:
    with running_coordinator(1) as c:
        c.submit(1, big_bytes, (BIG,), "bytes")
        c.submit(2, bytearray, (BIG,), "bytearray")
        c.submit(3, big_bytes, (1024,), "small")
        done = collect(c, {1, 2, 3})
        values = {k: done[k].value for k in (1, 2, 3)}
        assert values[1]._segment is not None and values[2]._segment is not None
        assert values[3]._segment is None  # small: a frame is cheaper
        assert len(segment_files(c)) == 2
        loaded = values[1].load()
        assert type(loaded) is bytes and loaded == big_bytes(BIG)
        array = values[2].load()
        assert type(array) is bytearray and array == bytearray(BIG)
        array[0] = 7  # a result is the caller's to change
        del done, values, loaded, array
        assert segment_files(c) == []  # released results unlink their segments


def test_coordinator_numpy_results_are_rebuilt_on_the_mapping() -> None:
    with running_coordinator(1) as c:
        c.submit(1, np.arange, (BIG // 8,), "array")
        value = collect(c, {1})[1].value
        array = value.load()
        assert value._segment is not None
        assert array.dtype == np.int64 and array.flags.writeable
        assert int(array[-1]) == BIG // 8 - 1 and int(array.sum()) == sum(range(BIG // 8))
        c.submit(2, np.sum, (value,), "sum")  # forwarded by name, rebuilt on a mapping there
        assert collect(c, {2})[2].value.load() == sum(range(BIG // 8))


def test_coordinator_forwards_segment_results_by_name() -> None:
    with running_coordinator(1) as c:
        c.submit(1, big_bytes, (BIG,), "make")
        value = collect(c, {1})[1].value
        c.submit(2, len, (value,), "measure")
        _fn, frames = c._tasks[c._table.tid_of[2]]
        assert isinstance(frames, list)
        assert sum(memoryview(f).nbytes for f in frames) < 4096  # a name, not the data
        assert collect(c, {2})[2].value.load() == BIG


def test_coordinator_accepting_remote_workers_forwards_by_value() -> None:
    with running_coordinator(1, listen="tcp://127.0.0.1:*", insecure=True) as c:
        c.submit(1, big_bytes, (BIG,), "make")
        value = collect(c, {1})[1].value
        c.submit(2, len, (value,), "measure")
        _fn, frames = c._tasks[c._table.tid_of[2]]
        assert isinstance(frames, list)
        assert sum(memoryview(f).nbytes for f in frames) >= BIG  # a remote worker could get it
        assert collect(c, {2})[2].value.load() == BIG


def test_coordinator_remote_worker_results_stay_frames() -> None:
    import subprocess
    import sys

    c = Coordinator(0, listen="tcp://127.0.0.1:*", insecure=True)
    worker = subprocess.Popen([sys.executable, "-m", "dagron.workers.worker", c.address])
    try:
        c.wait_for_workers(1, timeout=60)
        assert c._segments is None
        c.submit(1, bytes, (BIG,), "make")  # a builtin: the worker cannot import this module
        value = collect(c, {1})[1].value
        assert value._segment is None and value.load() == bytes(BIG)
    finally:
        c.close()
        worker.wait(30)


def test_coordinator_removes_segments_a_killed_worker_never_sent() -> None:
    with running_coordinator(1) as c:
        c.submit(1, big_bytes, (BIG,), "kept")
        kept = collect(c, {1})[1].value
        (proc,) = c._pool.procs.values()
        assert proc.identity is not None and c._segments is not None
        stray = os.path.join(c._segments.path, f"{proc.identity.decode()}-999")
        with open(stray, "wb") as f:
            f.write(b"written, never reported")
        c.submit(2, kill_self, (), "killer")
        err = collect(c, {2})[2].error
        assert isinstance(err, WorkerLostError)
        assert not os.path.exists(stray)
        assert kept.load() == big_bytes(BIG)  # what it did send survives it


def test_coordinator_forwards_small_results_as_their_own_pickles() -> None:
    with running_coordinator(1) as c:
        c.submit(1, int, ("4",), "a")
        c.submit(2, str, (5,), "b")
        done = collect(c, {1, 2})
        a, b = done[1].value, done[2].value
        c.submit(3, sorted, ({"b": b, "a": a},), "by-name")  # pass_results=True's form
        c.submit(4, max, (a, done[1].value), "positional")
        _fn, form = c._tasks[c._table.tid_of[3]]
        assert form == (("b", "a"), (b.inline_pickle(), a.inline_pickle()))
        later = collect(c, {3, 4})
        assert later[3].value.load() == ["a", "b"] and later[4].value.load() == 4


def test_coordinator_as_a_run_backend_is_sized_by_the_run_and_closes_after() -> None:
    c = Coordinator()
    c.start(3)
    try:
        assert c.slots == 3 and len(c.workers) == 3
        assert c.capacity == 3 * c.state.max_prefetch
        c.submit(1, pow, (2, 5))
        assert collect(c, {1})[1].value.load() == 32
    finally:
        c.shutdown(wait=False)
    assert c.status is Status.CLOSED and c.workers == []


def test_coordinator_of_a_cluster_serves_runs_in_turn_and_stays_open() -> None:
    turns = Turns()
    c = Coordinator(2, turns=turns)
    c.open()
    try:
        c.start(8)  # a cluster's coordinator keeps its own size
        assert c.slots == 2 and turns.lock.locked()
        c.submit(1, time.sleep, (30,))  # left running by the run
        c.wait(0.2)
        c.shutdown(wait=False)
        assert not turns.lock.locked() and c.status is Status.RUNNING
        c.start(2)
        c.submit(2, pow, (3, 2))
        assert collect(c, {2})[2].value.load() == 9
        c.shutdown(wait=False)
    finally:
        c.close()


def _report_header(tid: int, status: int, extra: Any, n_frames: int, segment: Any) -> bytes:
    return p.dump_header((((tid, status, 1.0, 2.0, 0.5, extra, n_frames, segment),), None))


# RESULT bodies (header, then frames) that cannot be read, as a function of the task id
UNREADABLE_RESULTS = {
    "not a pickle": lambda tid: [b"\x80\x05garbage"],
    "frames missing": lambda tid: [_report_header(tid, p.OK_PICKLED, None, 2, None)],
    "inline value not bytes": lambda tid: [_report_header(tid, p.OK_INLINE, 123, 0, None)],
    "segment from afar": lambda tid: [
        _report_header(tid, p.OK_PICKLED, None, 0, ("s", (0,), (8,)))
    ],
    "failure of the wrong shape": lambda tid: [_report_header(tid, p.RAISED, "?", 0, None)],
}


def next_tasks(c: Coordinator, peer: zmq.Socket[bytes]) -> bytes:
    """The header of the next TASKS message ``c`` sends ``peer``, ``c`` kept running."""
    while True:
        c.wait(0.01)
        while peer.poll(0):
            kind, header, *_ = peer.recv_multipart()
            if kind == p.TASKS:
                return header


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", sorted(UNREADABLE_RESULTS))
def test_coordinator_unreadable_result_still_fails_its_task(case: str) -> None:
    with running_coordinator(0, listen="tcp://127.0.0.1:*", insecure=True) as c:
        ctx = zmq.Context()
        peer = ctx.socket(zmq.DEALER)
        peer.connect(c.address)
        try:
            hello = (p.PROTOCOL_VERSION, os.getpid(), "here", "fake", None)
            peer.send_multipart([p.HELLO, p.dump_header(hello)])
            c.wait_for_workers(1, timeout=10)
            c.submit(1, abs, (-3,), "n")
            _, ((tid, *_),) = p.load_header(next_tasks(c, peer))
            peer.send_multipart([p.STARTED, p.dump_header((tid, 1.0))])
            peer.send_multipart([p.RESULT, *UNREADABLE_RESULTS[case](tid)])
            done = collect(c, {1}, timeout=10)
        finally:
            peer.close(linger=0)
            ctx.term()
    assert isinstance(done[1], Failed)
    assert "cannot be read" in str(done[1].error), done[1].error


# ----- hostile peers on an open (keyless loopback TCP) coordinator -------------------------


class Plant:
    """A pickle that, when unpickled, creates the file ``path``: code run by a peer."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def hostile_messages(marker: str) -> list[list[bytes]]:
    evil = pickle.dumps(Plant(marker))
    inline = p.dump_header(
        (tuple((k, p.OK_INLINE, 1.0, 2.0, 0.1, evil, 0, None) for k in range(8)), None)
    )
    raised = [
        p.RESULT,
        p.dump_header(
            (tuple((k, p.RAISED, 1.0, 2.0, 0.1, ("tb", True), 1, None) for k in range(1)), None)
        ),
        evil,
    ]
    kinds = [p.HELLO, p.HEARTBEAT, p.STARTED, p.RESULT, p.MEMORY, p.OUTPUT]
    return [[kind, evil] for kind in kinds] + [[p.RESULT, inline], raised]


@pytest.mark.timeout(60)
def test_coordinator_never_unpickles_what_an_unjoined_peer_sends(tmp_path: Any) -> None:
    marker = tmp_path / "planted"
    with running_coordinator(1, listen="tcp://127.0.0.1:*", insecure=True) as c:
        c.submit(0, time.sleep, (0.3,), "slow")  # a task in flight the peer might claim
        ctx = zmq.Context()
        peer = ctx.socket(zmq.DEALER)
        peer.connect(c.address)
        try:
            for message in hostile_messages(str(marker)):
                peer.send_multipart(message)
            done = collect(c, {0})
            # It keeps working: the real result came through, and a new task runs.
            c.submit(1, pow, (2, 5), "after")
            after = collect(c, {1})
        finally:
            peer.close(linger=0)
            ctx.term()
    assert done[0].value.load() is None
    assert after[1].value.load() == 32
    assert not marker.exists(), "a peer's pickle ran in the coordinator"


# A peer that speaks just enough ZMTP to start a CURVE handshake, then sends one command
# frame of argv[2] bytes (streamed, so the sender itself stays small).
FLOOD = """
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
size = int(sys.argv[2])
s = socket.create_connection((host, int(port)))
s.sendall(b"\\xff" + bytes(8) + b"\\x7f" + b"\\x03\\x00" + b"CURVE".ljust(20, b"\\x00") + bytes(32))
s.sendall(b"\\x06" + struct.pack(">Q", size))
chunk = bytes(1 << 20)
try:
    for _ in range(size >> 20):
        s.sendall(chunk)
except OSError:
    pass  # disconnected: what a bounded coordinator does
print("sent", flush=True)
"""


@pytest.mark.timeout(120)
def test_coordinator_with_keys_bounds_what_an_unauthenticated_peer_makes_it_hold(
    tmp_path: Any,
) -> None:
    import subprocess
    import sys

    import psutil

    from dagron.workers.security import generate_keys

    keys = str(generate_keys(tmp_path / "keys"))
    c = Coordinator(0, listen="tcp://127.0.0.1:*", keys=keys)
    me = psutil.Process()
    try:
        before = me.memory_info().rss
        address = c.address.removeprefix("tcp://")
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, address, str(256 << 20)])
        peak = before
        while flood.poll() is None:
            c.wait(0.01)
            peak = max(peak, me.memory_info().rss)
        assert flood.returncode == 0
        peak = max(peak, me.memory_info().rss)
        # The coordinator still serves: a heartbeat gets its answer.
        ctx = zmq.Context()
        peer = ctx.socket(zmq.DEALER)
        peer.curve_secretkey, peer.curve_publickey = load_worker(keys)
        peer.curve_serverkey = zmq.auth.load_certificate(f"{keys}/coordinator.key")[0]
        peer.connect(c.address)
        try:
            peer.send_multipart([p.HEARTBEAT, p.dump_header((b"w-none", "none", 1.5, None))])
            deadline = time.monotonic() + 30
            while not peer.poll(0) and time.monotonic() < deadline:
                c.wait(0.05)
            assert peer.poll(0), "the coordinator stopped answering"
        finally:
            peer.close(linger=0)
            ctx.term()
    finally:
        c.close()
    assert peak - before < 64 << 20, f"grew by {(peak - before) >> 20} MiB"


def load_worker(keys: str) -> tuple[bytes, bytes]:
    public, secret = zmq.auth.load_certificate(f"{keys}/worker.key_secret")
    assert secret is not None
    return secret, public
