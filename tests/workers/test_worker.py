"""The worker process: its clock is measured against the coordinator's, and every stamp it
sends is on the coordinator's timeline, even when its own clock is far off; it never
outlives the process that started it."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from dagron import DAG, Cluster, DAGExecutor, NodeStatus
from dagron.workers.testing import wait_for_gone, wait_for_no_segment_dirs

SKEW = 37.0  # seconds the "remote" worker's clock runs ahead of this machine's
SKEWED = "elsewhere/w1"


def skewed_worker(address: str) -> subprocess.Popen[bytes]:
    """A worker process, as dagron-worker would start on another host, whose clock runs
    SKEW seconds ahead."""
    cmd = [sys.executable, "-m", "dagron.workers.worker", address, "--name", SKEWED]
    cmd += ["--clock-skew", str(SKEW), "--death-timeout", "30"]
    return subprocess.Popen(cmd)


def ladder(rungs: int, width: int) -> DAG:
    """join0 -> (width nodes) -> join1 -> ... -> join<rungs>: every rung waits for the last."""
    builder = DAG.builder().add_node("join0")
    for r in range(rungs):
        for i in range(width):
            builder.add_node(f"r{r}n{i}").add_edge(f"join{r}", f"r{r}n{i}")
        builder.add_node(f"join{r + 1}")
        for i in range(width):
            builder.add_edge(f"r{r}n{i}", f"join{r + 1}")
    return builder.build()


def test_worker_skewed_clock_stamps_land_on_the_coordinator_timeline(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    dag = ladder(rungs=3, width=8)
    with Cluster(
        "tcp://127.0.0.1:*", local_workers=1, heartbeat_timeout=10.0, insecure=True
    ) as cluster:
        hosts.append(skewed_worker(cluster.address))
        cluster.wait_for_workers(2, timeout=60)
        result = DAGExecutor(dag, backend=cluster, enable_tracing=True).execute(
            # long enough that both workers get some of each rung; time.sleep pickles by
            # reference, which the worker (started elsewhere than the tests) can import
            dict.fromkeys(dag.node_names(), functools.partial(time.sleep, 0.005))
        )
    assert result.ok
    trace = result.trace
    assert trace is not None
    nodes = result.node_results
    assert SKEWED in {r.worker for r in nodes.values()}, "the skewed worker ran nothing"
    measured = trace.clock_offsets[SKEWED]
    assert measured.measured and measured.error < 1.0
    assert abs(measured.offset - SKEW) <= measured.error + 1e-6
    error = {w: o.error for w, o in trace.clock_offsets.items()}
    assert set(error) == {r.worker for r in nodes.values()}

    # Every stamp lies within the run, as the coordinator saw it ...
    for r in nodes.values():
        assert r.status is NodeStatus.COMPLETED and r.worker is not None
        assert r.started_at is not None and r.finished_at is not None
        slack = error[r.worker]
        assert trace.started_at - slack <= r.started_at <= r.finished_at
        assert r.finished_at <= trace.finished_at + slack
    # ... and no node starts before its parents finished, whichever worker ran each.
    for parent, child in dag.edges():
        p, c = nodes[parent], nodes[child]
        assert p.finished_at is not None and c.started_at is not None
        assert c.started_at >= p.finished_at - error[p.worker or ""] - error[c.worker or ""]
    # The trace's events and the Chrome export agree with the node results.
    for a in trace.attempts:
        r = nodes[a.node]
        assert (a.started_at, a.finished_at) == (r.started_at, r.finished_at)
    run = trace.duration * 1e6
    bars = [e for e in trace.to_chrome_trace()["traceEvents"] if e.get("cat") == "node"]
    assert len(bars) == len(nodes)
    for e in bars:
        slack = error[e["args"]["worker"]] * 1e6 + 1.0
        assert -slack <= e["ts"] and e["ts"] + e["dur"] <= run + slack


# A coordinator whose one worker runs a task holding its GIL in a single C call (no thread
# of the worker can run meanwhile); it prints the worker's pid once the task has begun.
GIL_HOG_COORDINATOR = """
import os, sys, time
from dagron.workers.coordinator import Coordinator
marker = sys.argv[1]
def hog():
    open(marker, "w").close()
    return sum(range(10**12))
c = Coordinator(1); c.open()
c.submit(1, hog, (), "hog")
c.wait(0.1)
print(c.workers[0]["pid"], flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(60)
def test_worker_dies_with_a_killed_coordinator_while_its_task_holds_the_gil(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "began"
    script = subprocess.Popen(
        [sys.executable, "-c", GIL_HOG_COORDINATOR, str(marker)], stdout=subprocess.PIPE
    )
    pid = 0
    try:
        assert script.stdout is not None
        pid = int(script.stdout.readline())
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the task never began"
        script.kill()
        script.wait()
        assert wait_for_gone([pid], timeout=5.0) == [], "the worker outlived its coordinator"
        left = wait_for_no_segment_dirs(set(), owner=script.pid)
        assert left == set(), "its shared memory outlived it"
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        assert script.stdout is not None
        script.stdout.close()
        kill_leftover_worker(pid)


def kill_leftover_worker(pid: int) -> None:
    """Kills ``pid`` if it is still a dagron worker (so a failing test leaks nothing)."""
    try:
        proc = psutil.Process(pid)
        if "dagron.workers.worker" in " ".join(proc.cmdline()):
            proc.kill()
    except psutil.Error:
        pass


def test_worker_engine_imports_only_what_a_worker_uses() -> None:
    # Every worker, and the fork server that forks them, pays for what this imports: not the
    # executor's side of the package, not psutil (only with a memory limit), not the CURVE
    # key handling (only with keys).
    unwanted = ["dagron.executor", "dagron.callbacks", "dagron.result", "dagron.tracing"]
    unwanted += ["dagron.workers.coordinator", "dagron.workers.security", "psutil", "asyncio"]
    script = (
        "import sys, dagron.workers.forkserver\n"
        f"print(sorted(m for m in {unwanted!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
