"""The default pool behind backend="processes": warm workers reused across runs, rebuilt
when a run needs other ones, stopped when idle, at exit, after Ctrl-C, and never shared
with a forked child."""

from __future__ import annotations

import _thread
import doctest
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import dagron
from dagron import DAG, DAGExecutor, NodeStatus
from dagron.errors import RunInterrupted
from dagron.workers import default_pool
from dagron.workers.coordinator import Coordinator
from dagron.workers.default_pool import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_POOL,
    IDLE_TIMEOUT_ENV,
    DefaultPool,
    WorkerSetup,
    idle_timeout,
    shutdown_default_pool,
)
from dagron.workers.status import Status
from dagron.workers.testing import segment_dirs, wait_for_gone, wait_for_no_segment_dirs


def nodes(n: int) -> DAG:
    dag = DAG()
    dag.add_nodes([f"n{i}" for i in range(n)])
    return dag


def run_pids(max_workers: int = 2, n: int = 4, **options: Any) -> set[int]:
    """Runs ``n`` nodes that return their worker's pid; returns the pids seen."""
    tasks = {f"n{i}": os.getpid for i in range(n)}
    result = DAGExecutor(nodes(n), backend="processes", max_workers=max_workers, **options).execute(
        tasks
    )
    assert result.ok
    return {r.result for r in result.node_results.values()}


def pool_pids() -> set[int]:
    """The pids of the default pool's workers now (empty: no pool)."""
    coordinator = DEFAULT_POOL.coordinator
    return set() if coordinator is None else {w["pid"] for w in coordinator.workers}


def test_default_pool_module_doctests() -> None:
    assert doctest.testmod(default_pool).failed == 0


def test_default_pool_runs_reuse_its_workers() -> None:
    first = run_pids()
    coordinator = DEFAULT_POOL.coordinator
    assert coordinator is not None and len(pool_pids()) == 2
    assert first <= pool_pids()
    second = run_pids()
    assert second <= pool_pids() and DEFAULT_POOL.coordinator is coordinator


def test_default_pool_workers_keep_loaded_functions_and_get_changed_ones() -> None:
    settings = {"offset": 0}
    loaded: list[int] = []  # rebuilt on a worker each time the function is loaded there

    def task() -> tuple[int, int, int]:
        loaded.append(1)
        return os.getpid(), len(loaded), settings["offset"]

    def run() -> tuple[int, int, int]:
        result = DAGExecutor(nodes(1), backend="processes", max_workers=1).execute({"n0": task})
        value: tuple[int, int, int] = result["n0"].result
        return value

    pid, calls, offset = run()
    assert (calls, offset) == (1, 0)
    assert run() == (pid, 2, 0)  # the worker's loaded copy again: not sent anew
    settings["offset"] = 5  # changes the function's pickle: it must travel again
    assert run() == (pid, 1, 5)


def test_default_pool_another_size_rebuilds_it() -> None:
    run_pids(max_workers=1)
    old = pool_pids()
    assert len(old) == 1
    run_pids(max_workers=2)
    assert len(pool_pids()) == 2 and not old & pool_pids()
    assert wait_for_gone(sorted(old)) == [], "the old pool's worker outlived it"


def test_default_pool_another_memory_limit_rebuilds_it() -> None:
    run_pids(max_workers=1)
    old = pool_pids()
    run_pids(max_workers=1, memory_limit="4GB")
    assert pool_pids() and not old & pool_pids()
    again = pool_pids()
    run_pids(max_workers=1, memory_limit="4GB")
    assert pool_pids() == again


def what_workers_see() -> tuple[int, str | None, str, list[str]]:
    return os.getpid(), os.environ.get("DAGRON_TEST_SETTING"), os.getcwd(), sys.path


@pytest.mark.parametrize("change", ["environment", "working directory", "sys.path"])
def test_default_pool_change_workers_inherit_rebuilds_it(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> tuple[int, str | None, str, list[str]]:
        result = DAGExecutor(nodes(1), backend="processes", max_workers=1).execute(
            {"n0": what_workers_see}
        )
        value: tuple[int, str | None, str, list[str]] = result["n0"].result
        return value

    before = run()
    if change == "environment":
        monkeypatch.setenv("DAGRON_TEST_SETTING", "on")
    elif change == "working directory":
        monkeypatch.chdir(tmp_path)
    else:
        monkeypatch.syspath_prepend(str(tmp_path))
    pid, setting, cwd, path = run()
    assert pid != before[0]
    seen = {"environment": setting == "on", "working directory": cwd == str(tmp_path)}
    seen["sys.path"] = str(tmp_path) in path
    assert seen[change], "the new workers did not get the change"


def test_default_pool_stops_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(IDLE_TIMEOUT_ENV, "0.2")
    before = segment_dirs()
    run_pids()
    pids = sorted(pool_pids())
    assert wait_for_gone(pids) == [], "idle workers outlived the idle timeout"
    assert DEFAULT_POOL.coordinator is None
    assert wait_for_no_segment_dirs(before) == set()
    deadline = time.monotonic() + 10
    while any(t.name == "dagron-pool-idle" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the idle thread lived on"
        time.sleep(0.02)
    assert run_pids() <= pool_pids()  # the next run starts a new pool


def test_default_pool_idle_timeout_zero_stops_the_workers_with_each_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(IDLE_TIMEOUT_ENV, "0")
    pids = run_pids()
    assert DEFAULT_POOL.coordinator is None
    assert wait_for_gone(sorted(pids), timeout=0.5) == []  # stopped before execute() returned


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, DEFAULT_IDLE_TIMEOUT),
        ("", DEFAULT_IDLE_TIMEOUT),
        ("0", 0.0),
        ("1.5", 1.5),
        ("inf", float("inf")),
    ],
)
def test_idle_timeout_reads_the_environment(
    text: str | None, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if text is None:
        monkeypatch.delenv(IDLE_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(IDLE_TIMEOUT_ENV, text)
    assert idle_timeout() == seconds


@pytest.mark.parametrize("text", ["soon", "-1", "nan"])
def test_idle_timeout_that_is_not_seconds_fails_the_run_before_it_starts(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IDLE_TIMEOUT_ENV, text)
    with pytest.raises(ValueError, match=IDLE_TIMEOUT_ENV):
        idle_timeout()
    with pytest.raises(ValueError, match=IDLE_TIMEOUT_ENV):
        run_pids()
    assert DEFAULT_POOL.coordinator is None


def test_worker_setup_ignores_the_pools_own_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    before = WorkerSetup.now(2, None)
    monkeypatch.setenv(IDLE_TIMEOUT_ENV, "12")
    assert WorkerSetup.now(2, None) == before
    monkeypatch.setenv("DAGRON_TEST_SETTING", "on")
    assert WorkerSetup.now(2, None) != before


def test_default_pool_ctrl_c_stops_its_workers_and_the_next_run_starts_fresh() -> None:
    old = pool_pids() or (run_pids() and pool_pids())
    dag = DAG()
    dag.add_nodes(["long", "trigger"])

    def on_complete(name: str, *_: Any) -> None:
        if name == "trigger":
            _thread.interrupt_main()  # as Ctrl-C would, on the coordinating thread

    callbacks = dagron.ExecutionCallbacks(on_complete=on_complete)
    with pytest.raises(RunInterrupted) as raised:
        DAGExecutor(dag, backend="processes", max_workers=2, callbacks=callbacks).execute(
            {"long": lambda: time.sleep(120), "trigger": lambda: 1}
        )
    assert raised.value.result["long"].status is NodeStatus.CANCELLED
    assert DEFAULT_POOL.coordinator is None
    assert wait_for_gone(sorted(old)) == [], "Ctrl-C left the pool's workers running"
    assert run_pids() <= pool_pids() and not old & pool_pids()


def test_default_pool_whose_coordinator_raised_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_pids()
    old = DEFAULT_POOL.coordinator
    assert old is not None
    old_pids = pool_pids()
    real_wait = Coordinator.wait

    def broken_wait(self: Coordinator, timeout: float | None) -> Any:
        monkeypatch.setattr(Coordinator, "wait", real_wait)  # once
        raise RuntimeError("the coordinator broke")

    monkeypatch.setattr(Coordinator, "wait", broken_wait)
    with pytest.raises(RuntimeError, match="broke"):
        run_pids()
    assert old.status is Status.CLOSED and DEFAULT_POOL.coordinator is None
    assert wait_for_gone(sorted(old_pids)) == []
    assert run_pids() <= pool_pids() and not old_pids & pool_pids()


def test_default_pool_replaces_a_worker_killed_between_runs() -> None:
    run_pids()
    coordinator = DEFAULT_POOL.coordinator
    victim, survivor = sorted(pool_pids())
    os.kill(victim, signal.SIGKILL)
    assert wait_for_gone([victim]) == []
    tasks = {f"n{i}": os.getpid for i in range(8)}
    result = DAGExecutor(nodes(8), backend="processes", max_workers=2).execute(tasks)
    assert result.ok and all(r.attempts == 1 for r in result.node_results.values())
    assert DEFAULT_POOL.coordinator is coordinator
    assert survivor in pool_pids() and victim not in pool_pids()


def test_default_pool_replaces_a_worker_a_timeout_killed_for_the_next_run() -> None:
    stuck = DAGExecutor(nodes(2), backend="processes", max_workers=2, fail_fast=False).execute(
        {"n0": lambda: time.sleep(60), "n1": int}, timeout={"n0": 0.5}
    )
    assert stuck["n0"].status is NodeStatus.TIMED_OUT and stuck["n1"].result == 0
    coordinator = DEFAULT_POOL.coordinator
    tasks = {f"n{i}": os.getpid for i in range(8)}
    executor = DAGExecutor(nodes(8), backend="processes", max_workers=2, enable_tracing=True)
    result = executor.execute(tasks)
    assert result.ok and all(r.attempts == 1 for r in result.node_results.values())
    assert result.trace is not None and result.trace.slots == 2
    assert DEFAULT_POOL.coordinator is coordinator and len(pool_pids()) == 2


def test_default_pool_lends_itself_to_one_run_at_a_time() -> None:
    pool = DefaultPool()
    first = pool.lease(1, None)
    try:
        assert first is not None and first.status is Status.RUNNING
        assert pool.lease(1, None) is None  # held: the other run starts workers of its own
    finally:
        assert first is not None
        pool.give_back(first, sound=True)
    again = pool.lease(1, None)
    assert again is first
    pool.give_back(first, sound=False)
    assert first.status is Status.CLOSED and pool.coordinator is None


def test_default_pool_shutdown_while_lent_stops_it_when_the_run_gives_it_back() -> None:
    pool = DefaultPool()
    coordinator = pool.lease(1, None)
    assert coordinator is not None
    pool.shutdown()
    assert coordinator.status is Status.RUNNING  # the run still drives it
    pool.give_back(coordinator, sound=True)
    assert coordinator.status is Status.CLOSED and pool.coordinator is None
    pool.shutdown()  # nothing left: a no-op
    shutdown_default_pool()
    shutdown_default_pool()


# Runs on the default pool, then exits without stopping it. Its own exit handler is
# registered before dagron's, so it runs after it: by then nothing may be left.
AT_EXIT = """
import atexit, json, os, tempfile
import psutil

seen = {}

def after_dagron():
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "dagron.workers.worker" in " ".join(child.cmdline()):
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive.append(child.pid)
        except psutil.Error:
            pass
    dirs = [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("dagron-")]
    print(json.dumps({"pool": seen["pool"], "alive": alive, "dirs": dirs}), flush=True)

atexit.register(after_dagron)

import dagron
from dagron.workers.default_pool import DEFAULT_POOL

dag = dagron.DAG(); dag.add_nodes(["a", "b"])
result = dagron.DAGExecutor(dag, backend="processes", max_workers=2).execute(
    {"a": os.getpid, "b": os.getpid}
)
assert result.ok
seen["pool"] = [w["pid"] for w in DEFAULT_POOL.coordinator.workers]
"""


@pytest.mark.timeout(60)
def test_default_pool_stops_at_interpreter_exit(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop(IDLE_TIMEOUT_ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT], capture_output=True, text=True, timeout=30, env=env
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert len(seen["pool"]) == 2
    assert seen["alive"] == [] and seen["dirs"] == [], "the exit handler left them"
    assert wait_for_gone(seen["pool"]) == []


# Forks after a run: the child's runs must start workers of its own, its exit must stop
# those and leave the parent's alone, and the parent's pool must serve it on.
FORK = """
import json, os, sys
import dagron
from dagron.workers.default_pool import DEFAULT_POOL

dag = dagron.DAG(); dag.add_nodes(["a", "b"])

def pool_after_a_run():
    result = dagron.DAGExecutor(dag, backend="processes", max_workers=2).execute(
        {"a": os.getpid, "b": os.getpid}
    )
    assert result.ok
    return sorted(w["pid"] for w in DEFAULT_POOL.coordinator.workers)

parent = pool_after_a_run()
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.close(read)
    os.write(write, json.dumps(pool_after_a_run()).encode())
    os.close(write)
    sys.exit(0)  # a normal exit: the exit handler runs here too
os.close(write)
with os.fdopen(read) as pipe:
    in_child = json.loads(pipe.read())
_, status = os.waitpid(child, 0)
print(json.dumps({"parent": parent, "child": in_child, "status": status,
                  "after": pool_after_a_run()}), flush=True)
"""


@pytest.mark.timeout(90)
def test_default_pool_is_never_used_by_a_forked_child() -> None:
    env = dict(os.environ)
    env.pop(IDLE_TIMEOUT_ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", FORK], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["status"] == 0
    assert len(seen["parent"]) == len(seen["child"]) == 2
    assert not set(seen["parent"]) & set(seen["child"])
    assert seen["after"] == seen["parent"], "the child's exit touched the parent's pool"
    assert wait_for_gone(seen["child"]) == [], "the child's workers outlived it"
    assert wait_for_gone(seen["parent"]) == [], "the parent's workers outlived it"
