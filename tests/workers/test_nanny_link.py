"""A worker host's nanny vouches for its busy workers and kills the ones the coordinator
gives up on: real dagron-worker hosts on loopback, tasks that hold the GIL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
import pytest

import dagron
from dagron import Cluster, DAGExecutor, NodeStatus
from dagron.workers.nanny_link import CpuWatch
from dagron.workers.testing import wait_for_gone

WORKER_CMD = [sys.executable, "-m", "dagron.workers.cli"]

# The remote workers cannot import this module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def start_host(
    address: str, nprocs: int = 1, death_timeout: float = 10.0
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*WORKER_CMD, address, "--nprocs", str(nprocs), "--death-timeout", str(death_timeout)]
    )


def one_node() -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_node("n0")
    return dag


def hold_the_gil_for(seconds: float) -> float:
    """Keeps the GIL, using a CPU all along, for ``seconds`` of wall time whatever the load
    (as one long C call would: with the switch interval raised past that, the interpreter
    never hands the GIL to the worker's other threads); returns how long it kept it."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds + 60.0)
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            sum(range(10_000))
        return time.perf_counter() - t0
    finally:
        sys.setswitchinterval(before)


@pytest.mark.timeout(90)
def test_nanny_link_vouches_for_a_worker_holding_the_gil_past_the_heartbeat_timeout(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    # The task outlasts the coordinator's heartbeat timeout and the worker's own death
    # timeout: the nanny's vouches keep it on, and the worker, which could not listen while
    # its task held the GIL, does not take its own deafness for the coordinator's silence.
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address, death_timeout=4.0))
        cluster.wait_for_workers(1, timeout=30)
        pid = cluster.workers[0]["pid"]
        result = DAGExecutor(one_node(), backend=cluster).execute(
            {"n0": lambda: hold_the_gil_for(6.0)}
        )
        r = result.node_results["n0"]
        assert r.status is NodeStatus.COMPLETED, r.error
        assert r.attempts == 1
        assert [w["pid"] for w in cluster.workers] == [pid]  # not lost, not replaced
        again = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
        assert again.node_results["n0"].result == pid  # and still there to run the next


def spawn_then_hold_the_gil(marker: str) -> int:
    child = subprocess.Popen(["sleep", "600"])
    Path(marker + ".tmp").write_text(f"{os.getpid()} {child.pid}")
    os.rename(marker + ".tmp", marker)  # never seen half written
    return sum(range(10**12))  # holds the GIL for good


@pytest.mark.timeout(90)
def test_nanny_link_timed_out_remote_task_is_killed_with_its_children_and_replaced(
    hosts: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    marker = tmp_path / "began"
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        try:
            result = DAGExecutor(one_node(), backend=cluster, timeout=1.0).execute(
                {"n0": lambda: spawn_then_hold_the_gil(str(marker))}
            )
            ended = time.time()
            r = result.node_results["n0"]
            assert r.status is NodeStatus.TIMED_OUT
            assert r.started_at is not None and ended - r.started_at < 1.0 + 2.0
            worker, child = (int(x) for x in marker.read_text().split())
            assert wait_for_gone([worker, child], timeout=5.0) == []
        finally:  # whatever failed, nothing is left running
            for pid in (int(x) for x in marker.read_text().split()) if marker.exists() else ():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        cluster.wait_for_workers(1, timeout=30)
        after = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
        assert after.node_results["n0"].status is NodeStatus.COMPLETED
        replacement = after.node_results["n0"].result
        assert replacement != worker and psutil.Process(replacement).ppid() == hosts[0].pid


def test_nanny_link_cpu_watch_calls_busy_only_a_worker_using_its_share_of_a_cpu() -> None:
    watch = CpuWatch(share=0.2)
    assert watch.busy(b"a", 1.0, now=10.0) is False  # nothing to compare with yet
    assert watch.busy(b"a", 1.9, now=11.0) is True
    assert watch.busy(b"a", 1.95, now=12.0) is False  # waiting: its threads use a little
    assert watch.busy(b"a", 1.95, now=13.0) is False  # stopped
    assert watch.busy(b"a", -1.0, now=14.0) is False  # gone
    watch.forget(b"a")
    assert watch.busy(b"a", 9.0, now=15.0) is False


def touch_then_sleep(marker: str) -> None:
    # Written whole, then renamed: the test must never read the marker half written.
    Path(marker + ".tmp").write_text(str(os.getpid()))
    os.rename(marker + ".tmp", marker)
    time.sleep(600)


@pytest.mark.timeout(60)
def test_nanny_link_does_not_vouch_for_a_stopped_worker(
    hosts: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    marker = tmp_path / "began"
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=2.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        stopped: list[int] = []

        def stop_it(name: str, *_: object) -> None:
            deadline = time.monotonic() + 10
            while not marker.exists():
                assert time.monotonic() < deadline, "the task never began"
                time.sleep(0.02)
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

        try:
            callbacks = dagron.ExecutionCallbacks(on_start=stop_it)
            result = DAGExecutor(one_node(), backend=cluster, callbacks=callbacks).execute(
                {"n0": lambda: touch_then_sleep(str(marker))}
            )
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGKILL)
        r = result.node_results["n0"]
        assert r.status is NodeStatus.FAILED and isinstance(r.error, dagron.WorkerLostError)
        assert "no heartbeat" in str(r.error)


@pytest.mark.timeout(60)
def test_nanny_link_worker_without_a_nanny_timed_out_is_taken_back_once_its_task_ends() -> None:
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=5.0, insecure=True) as cluster:
        bare = subprocess.Popen([sys.executable, "-m", "dagron.workers.worker", cluster.address])
        try:
            cluster.wait_for_workers(1, timeout=30)
            result = DAGExecutor(one_node(), backend=cluster, timeout=1.0).execute(
                {"n0": lambda: hold_the_gil_for(2.5)}  # not long enough to be lost
            )
            assert result.node_results["n0"].status is NodeStatus.TIMED_OUT
            cluster.wait_for_workers(1, timeout=15)  # it said hello again
            after = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
            assert after.node_results["n0"].result == bare.pid
        finally:
            bare.kill()
            bare.wait()


COORDINATOR_RUNNING_A_GIL_HOG = """
import os, sys, threading, time
from pathlib import Path
from typing import Any
import dagron

marker = sys.argv[1]
cluster = dagron.Cluster("tcp://127.0.0.1:*", insecure=True)
print(cluster.address, flush=True)
cluster.wait_for_workers(1, timeout=60)
dag = dagron.DAG()
dag.add_node("n0")

def hog():
    Path(marker).write_text(str(os.getpid()))
    return sum(range(10**12))  # holds the worker's GIL for good

run = lambda: dagron.DAGExecutor(dag, backend=cluster).execute({"n0": hog})
threading.Thread(target=run, daemon=True).start()
time.sleep(600)
"""


@pytest.mark.timeout(90)
def test_nanny_link_host_leaves_when_the_coordinator_dies_while_a_task_holds_the_gil(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "began"
    coordinator = subprocess.Popen(
        [sys.executable, "-c", COORDINATOR_RUNNING_A_GIL_HOG, str(marker)],
        stdout=subprocess.PIPE,
        text=True,
    )
    host = None
    worker = None
    try:
        address = coordinator.stdout.readline().strip() if coordinator.stdout else ""
        host = subprocess.Popen(
            [*WORKER_CMD, address, "--death-timeout", "2", "--nprocs", "1"],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the task never began"
            time.sleep(0.02)
        worker = int(marker.read_text())
        coordinator.kill()
        _, err = host.communicate(timeout=30)
        assert host.returncode == 1 and "unreachable" in err
        assert wait_for_gone([worker], timeout=5.0) == []
    finally:
        coordinator.kill()
        coordinator.wait()
        if coordinator.stdout:
            coordinator.stdout.close()
        if host is not None and host.poll() is None:
            host.kill()
            host.communicate()
        if worker is not None:
            try:
                os.kill(worker, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.timeout(60)
def test_nanny_link_killed_nanny_takes_its_tasks_processes_along(
    hosts: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    marker = tmp_path / "began"
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=2.0, insecure=True) as cluster:
        host = start_host(cluster.address)
        hosts.append(host)
        cluster.wait_for_workers(1, timeout=30)
        results: list[dagron.ExecutionResult] = []

        def run() -> None:
            results.append(
                DAGExecutor(one_node(), backend=cluster).execute(
                    {"n0": lambda: spawn_then_hold_the_gil(str(marker))}
                )
            )

        runner = threading.Thread(target=run)
        runner.start()
        pids: list[int] = []
        try:
            deadline = time.monotonic() + 30
            while not marker.exists() or not marker.read_text():
                assert time.monotonic() < deadline, "the task never began"
                time.sleep(0.02)
            pids = [int(x) for x in marker.read_text().split()]
            host.kill()  # no chance to stop its workers
            host.wait()
            assert wait_for_gone(pids, timeout=5.0) == [], "a task's process outlived its host"
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            runner.join(30)
    assert results and results[0]["n0"].status is NodeStatus.FAILED  # its worker was lost


class HoldsTheGilWhenLoaded:
    """A task whose unpickling on the worker holds the GIL for good: the worker is stuck
    before the task begins (the coordinator never hears it started)."""

    def __call__(self) -> int:
        return 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (sum, (range(10**12),))


@pytest.mark.timeout(90)
def test_nanny_link_worker_stuck_outside_a_task_is_lost_killed_and_replaced(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=2.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        stuck = cluster.workers[0]["pid"]
        result = DAGExecutor(one_node(), backend=cluster).execute({"n0": HoldsTheGilWhenLoaded()})
        r = result.node_results["n0"]
        assert r.status is NodeStatus.FAILED and isinstance(r.error, dagron.WorkerLostError)
        try:
            assert wait_for_gone([stuck], timeout=5.0) == []
        finally:
            try:
                os.kill(stuck, signal.SIGKILL)
            except OSError:
                pass
        cluster.wait_for_workers(1, timeout=30)
        after = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
        assert after.node_results["n0"].result not in (stuck, None)


@pytest.mark.timeout(90)
def test_nanny_link_task_whose_argument_loading_holds_the_gil_times_out(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    dag = dagron.DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b")
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        result = DAGExecutor(dag, backend=cluster, timeout=1.0).execute(
            # b's argument is a's result
            {"a": lambda inputs: HoldsTheGilWhenLoaded(), "b": lambda inputs: 1},
            pass_results=True,
        )
        ended = time.time()
        r = result.node_results["b"]
        assert r.status is NodeStatus.TIMED_OUT, r.error
        assert r.started_at is not None and ended - r.started_at < 1.0 + 2.0
        cluster.wait_for_workers(1, timeout=30)  # its worker was replaced
        after = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
        assert after.node_results["n0"].status is NodeStatus.COMPLETED


def test_nanny_link_cpu_watch_first_look_at_a_started_worker_can_say_busy() -> None:
    # A worker whose task began before its nanny first looked must still count as busy on
    # that first look: a vouch a period later may come after its heartbeat timeout.
    watch = CpuWatch()
    watch.started(b"w1", now=10.0)
    assert watch.busy(b"w1", cpu_time=0.9, now=11.0)
    assert not watch.busy(b"w1", cpu_time=0.905, now=12.0)  # idle since
