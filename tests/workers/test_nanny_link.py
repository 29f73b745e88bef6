"""A worker host's nanny vouches for its busy workers and kills the ones the coordinator
gives up on: real dagron-worker hosts on loopback, tasks that hold the GIL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def start_host(address: str, nprocs: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*WORKER_CMD, address, "--nprocs", str(nprocs), "--death-timeout", "10"]
    )


def one_node() -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_node("n0")
    return dag


def gil_held_for(n: int) -> int:
    return sum(range(n))  # one C call, using CPU: no other thread of the worker runs


def sum_size_for(seconds: float) -> int:
    """The ``n`` for which ``sum(range(n))`` takes about ``seconds`` here."""
    n = 2_000_000
    t0 = time.perf_counter()
    sum(range(n))
    return int(n * seconds / max(time.perf_counter() - t0, 1e-6))


@pytest.mark.timeout(90)
def test_nanny_link_vouches_for_a_worker_holding_the_gil_past_the_heartbeat_timeout(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    n = sum_size_for(8.0)
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        pid = cluster.workers[0]["pid"]
        t0 = time.monotonic()
        result = DAGExecutor(one_node(), backend=cluster).execute({"n0": lambda: gil_held_for(n)})
        took = time.monotonic() - t0
        r = result.node_results["n0"]
        assert r.status is NodeStatus.COMPLETED, r.error
        assert r.result == n * (n - 1) // 2 and r.attempts == 1
        assert took > 3.0 + 1.0, "the task was too short to test anything"
        assert [w["pid"] for w in cluster.workers] == [pid]  # not lost, not replaced


def spawn_then_hold_the_gil(marker: str) -> int:
    child = subprocess.Popen(["sleep", "600"])
    Path(marker).write_text(f"{os.getpid()} {child.pid}")
    return sum(range(10**12))  # holds the GIL for good


@pytest.mark.timeout(90)
def test_nanny_link_timed_out_remote_task_is_killed_with_its_children_and_replaced(
    hosts: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    marker = tmp_path / "began"
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address))
        cluster.wait_for_workers(1, timeout=30)
        result = DAGExecutor(one_node(), backend=cluster, timeout=1.0).execute(
            {"n0": lambda: spawn_then_hold_the_gil(str(marker))}
        )
        ended = time.time()
        r = result.node_results["n0"]
        assert r.status is NodeStatus.TIMED_OUT
        assert r.started_at is not None and ended - r.started_at < 1.0 + 2.0
        worker, child = (int(x) for x in marker.read_text().split())
        try:
            assert wait_for_gone([worker, child], timeout=5.0) == []
        finally:
            for pid in (worker, child):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        cluster.wait_for_workers(1, timeout=30)
        t0 = time.monotonic()
        after = DAGExecutor(one_node(), backend=cluster).execute({"n0": os.getpid})
        assert time.monotonic() - t0 < 10.0
        assert after.node_results["n0"].status is NodeStatus.COMPLETED
        replacement = after.node_results["n0"].result
        assert replacement != worker and psutil.Process(replacement).ppid() == hosts[0].pid


def test_nanny_link_cpu_watch_calls_busy_only_a_worker_whose_cpu_time_grew() -> None:
    watch = CpuWatch()
    assert watch.busy(b"a", 1.0) is False  # nothing to compare with yet
    assert watch.busy(b"a", 1.5) is True
    assert watch.busy(b"a", 1.5) is False  # stopped, or waiting
    assert watch.busy(b"a", -1.0) is False  # gone
    watch.forget(b"a")
    assert watch.busy(b"a", 9.0) is False
