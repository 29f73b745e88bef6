"""The processes backend through DAGExecutor: same results as threads, real faults."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy
import psutil
import pytest

import dagron
from dagron import DAG, DAGExecutor, LocalCluster, NodeStatus, Pipeline, task
from dagron.errors import (
    RemoteTaskError,
    RunInterrupted,
    SerializationError,
    TaskTimeoutError,
    WorkerLostError,
)
from dagron.workers.testing import (
    allocate_at_once,
    hog_memory,
    live_worker_pids,
    segment_dirs,
    wait_for_gone,
    wait_for_no_segment_dirs,
    wait_for_no_workers,
)

# backend="processes" keeps its workers warm between runs (the default pool): stopping the
# pool must end them and remove their directories, and nothing else may be left.


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    dagron.shutdown_default_pool()
    assert wait_for_no_workers() == [], "worker processes outlived the run"


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = segment_dirs()
    yield
    dagron.shutdown_default_pool()
    assert wait_for_no_segment_dirs(before) == set(), "segment directories outlived the run"


def chain(*names: str) -> DAG:
    dag = DAG()
    dag.add_nodes(names)
    dag.add_edges(list(zip(names, names[1:])))
    return dag


def etl() -> DAG:
    return chain("extract", "transform", "load")


def fan_out() -> DAG:
    return (
        DAG.builder()
        .add_nodes(["extract_api", "extract_db", "transform_api", "transform_db", "merge", "load"])
        .add_edges(
            [
                ("extract_api", "transform_api"),
                ("extract_db", "transform_db"),
                ("transform_api", "merge"),
                ("transform_db", "merge"),
                ("merge", "load"),
            ]
        )
        .build()
    )


def outcome(result: dagron.ExecutionResult) -> dict[str, tuple[NodeStatus, Any]]:
    return {n: (r.status, r.result) for n, r in result.node_results.items()}


ETL_TASKS = {
    "extract": lambda: [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
    "transform": lambda: [{"id": 1, "name": "ALICE"}, {"id": 2, "name": "BOB"}],
    "load": lambda: "2 rows written",
}


def test_processes_seed_etl_matches_threads() -> None:
    threads = DAGExecutor(etl()).execute(ETL_TASKS)
    procs = DAGExecutor(etl(), backend="processes", max_workers=2).execute(ETL_TASKS)
    assert outcome(procs) == outcome(threads)
    assert procs.succeeded == 3 and procs.failed == 0
    assert procs.node_results["load"].result == "2 rows written"
    assert list(procs.node_results) == ["extract", "transform", "load"]
    for r in procs.node_results.values():
        assert r.worker and r.worker != threads.node_results[r.name].worker
        assert r.attempts == 1 and r.started_at is not None and r.finished_at is not None


def test_processes_fan_out_extracts_overlap_in_workers() -> None:
    def slow(tag: str, seconds: float) -> Any:
        def extract() -> list[dict[str, str]]:
            time.sleep(seconds)
            return [{"source": tag}]

        return extract

    tasks = {
        "extract_api": slow("api", 0.5),
        "extract_db": slow("db", 0.3),
        "transform_api": lambda: "api clean",
        "transform_db": lambda: "db clean",
        "merge": lambda: "merged 2 sources",
        "load": lambda: "loaded to warehouse",
    }
    result = DAGExecutor(fan_out(), backend="processes", max_workers=4).execute(tasks)
    assert result.succeeded == 6
    api, db = result.node_results["extract_api"], result.node_results["extract_db"]
    assert api.worker != db.worker
    # The two extracts ran at the same time: each started before the other finished.
    assert api.started_at is not None and api.finished_at is not None
    assert db.started_at is not None and db.finished_at is not None
    assert api.started_at < db.finished_at and db.started_at < api.finished_at
    # Durations are measured around the call, in the worker.
    assert api.duration_seconds >= 0.5 and db.duration_seconds >= 0.3


def test_processes_fail_fast_table_as_seed() -> None:
    def bad_transform() -> None:
        raise ValueError("Data quality check failed!")

    tasks = dict(ETL_TASKS, transform=bad_transform)
    result = DAGExecutor(etl(), backend="processes", max_workers=2).execute(tasks)
    assert (result.failed, result.skipped) == (1, 1)
    statuses = {n: r.status for n, r in result.node_results.items()}
    assert statuses == {
        "extract": NodeStatus.COMPLETED,
        "transform": NodeStatus.FAILED,
        "load": NodeStatus.SKIPPED,
    }
    err = result.node_results["transform"]
    assert isinstance(err.error, ValueError) and str(err.error) == "Data quality check failed!"
    assert err.traceback is not None and "bad_transform" in err.traceback
    assert err.worker


def test_processes_pipeline_passes_data_between_workers() -> None:
    @task
    def fetch() -> list[int]:
        return [1, 2, 3]

    @task
    def double(fetch: list[int]) -> list[int]:
        return [x * 2 for x in fetch]

    @task
    def save(double: list[int]) -> str:
        return f"saved {len(double)} items"

    pipeline = Pipeline(tasks=[fetch, double, save], name="numbers")
    result = pipeline.execute(backend="processes", max_workers=2)
    assert result.node_results["save"].result == "saved 3 items"
    assert result.node_results["double"].result == [2, 4, 6]


def test_processes_pass_results_forwards_large_values() -> None:
    blob = os.urandom(8 * 2**20)
    dag = chain("make", "measure")
    result = DAGExecutor(dag, backend="processes", max_workers=2).execute(
        {"make": lambda parents: blob, "measure": lambda parents: len(parents["make"])},
        pass_results=True,
    )
    assert result.node_results["measure"].result == len(blob)
    assert result.node_results["make"].result == blob


def test_processes_timeout_kills_worker_and_run_goes_on() -> None:
    dag = DAG()
    dag.add_nodes(["stuck", "after_stuck", "free", "after_free"])
    dag.add_edges([("stuck", "after_stuck"), ("free", "after_free")])
    started = time.monotonic()
    result = DAGExecutor(dag, backend="processes", max_workers=2, fail_fast=False).execute(
        {
            "stuck": lambda: time.sleep(120),
            "after_stuck": lambda: 1,
            "free": lambda: 2,
            "after_free": lambda: 3,
        },
        timeout={"stuck": 0.5},
    )
    assert time.monotonic() - started < 60
    stuck = result.node_results["stuck"]
    assert stuck.status is NodeStatus.TIMED_OUT
    assert isinstance(stuck.error, TaskTimeoutError)
    assert stuck.worker
    assert result.node_results["after_stuck"].status is NodeStatus.SKIPPED
    assert result.node_results["after_free"].result == 3


def hold_the_gil() -> int:
    # One C call that never lets go of the GIL (no bytecode runs inside it): hours of work.
    return sum(range(10**13))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_processes_timeout_holds_while_a_task_keeps_the_gil(workers: int) -> None:
    # The worker's helper threads cannot run: the coordinator must see the start itself.
    dag = DAG()
    dag.add_nodes(["stuck", "free"])
    executor = DAGExecutor(dag, backend="processes", max_workers=workers, fail_fast=False)
    result = executor.execute({"stuck": hold_the_gil, "free": lambda: 2}, timeout={"stuck": 1.0})
    stuck = result.node_results["stuck"]
    assert stuck.status is NodeStatus.TIMED_OUT
    assert stuck.started_at is not None and stuck.finished_at is not None
    assert stuck.finished_at - stuck.started_at < 1.0 + 2.0
    assert result.node_results["free"].result == 2


def start_sleeper(pidfile: str, then_sleep: float) -> None:
    """A task that starts ``sleep 1000`` (noting its pid in ``pidfile``), then sleeps."""
    sleeper = subprocess.Popen(["sleep", "1000"])
    Path(pidfile).write_text(str(sleeper.pid))
    time.sleep(then_sleep)


@contextmanager
def sleeper_pid(tmp_path: Path) -> Iterator[tuple[str, Callable[[], int]]]:
    """The pid file a start_sleeper task writes, and a function that reads it once written;
    kills the sleeper at the end whatever happened."""
    pidfile = tmp_path / "sleeper.pid"

    def read() -> int:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the task never started its sleeper"
            time.sleep(0.02)
        return int(pidfile.read_text())

    try:
        yield str(pidfile), read
    finally:
        if pidfile.exists() and pidfile.read_text():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(int(pidfile.read_text()))
                if proc.name() == "sleep":
                    proc.kill()


@pytest.mark.timeout(60)
def test_processes_timeout_ends_the_processes_a_task_started(tmp_path: Path) -> None:
    with sleeper_pid(tmp_path) as (pidfile, read_pid):
        result = DAGExecutor(chain("spawner"), backend="processes").execute(
            {"spawner": lambda: start_sleeper(pidfile, 60)}, timeout=1.0
        )
        assert result["spawner"].status is NodeStatus.TIMED_OUT
        assert wait_for_gone([read_pid()], timeout=5.0) == [], "the task's child outlived it"


@pytest.mark.timeout(60)
def test_processes_cancel_ends_the_processes_a_task_started(tmp_path: Path) -> None:
    cancel = threading.Event()
    with sleeper_pid(tmp_path) as (pidfile, read_pid):
        pids: list[int] = []

        def cancel_once_started() -> None:
            pids.append(read_pid())
            cancel.set()

        watcher = threading.Thread(target=cancel_once_started)
        watcher.start()
        result = DAGExecutor(chain("spawner"), backend="processes").execute(
            {"spawner": lambda: start_sleeper(pidfile, 60)}, cancel_event=cancel
        )
        watcher.join()
        assert result["spawner"].status is NodeStatus.CANCELLED
        assert wait_for_gone(pids, timeout=5.0) == [], "the task's child outlived the run"


@pytest.mark.timeout(60)
def test_processes_closed_cluster_ends_the_processes_its_tasks_left(tmp_path: Path) -> None:
    with sleeper_pid(tmp_path) as (pidfile, read_pid):
        with LocalCluster(n_workers=1) as cluster:
            result = DAGExecutor(chain("spawner"), backend=cluster).execute(
                {"spawner": lambda: start_sleeper(pidfile, 0)}
            )
            assert result.ok
            pid = read_pid()
            assert wait_for_gone([pid], timeout=0.5) == [pid]  # it lives on while the worker does
        assert wait_for_gone([pid], timeout=5.0) == [], "the task's child outlived the cluster"


# A processes run whose task says it began (a file), then sleeps: Ctrl-C comes meanwhile.
INTERRUPTED_RUN = """
import pathlib, sys, time, dagron
marker = sys.argv[1]
def task():
    pathlib.Path(marker).touch()
    time.sleep(600)
dag = dagron.DAG(); dag.add_nodes(["a", "b"])
dagron.DAGExecutor(dag, backend="processes", max_workers=2).execute({"a": task, "b": task})
print("returned normally", flush=True)
"""


@pytest.mark.timeout(60)
def test_processes_ctrl_c_stops_the_workers_and_exits_interrupted(tmp_path: Path) -> None:
    marker = tmp_path / "began"
    with subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUN, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as script:
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, "the task never began"
                time.sleep(0.02)
            workers = live_worker_pids(script.pid)
            assert len(workers) == 2
            script.send_signal(signal.SIGINT)
            out, err = script.communicate(timeout=30)
        finally:
            script.kill()
    assert "returned normally" not in out
    assert script.returncode != 0, err
    assert "RunInterrupted" in err
    assert wait_for_gone(workers, timeout=5.0) == [], "workers outlived the interrupted run"
    assert wait_for_no_segment_dirs(set(), owner=script.pid) == set()


def kill_first_attempt(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def test_processes_killed_worker_is_replaced_and_node_retried(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    dag = chain("fragile", "after")
    result = DAGExecutor(dag, backend="processes", max_workers=1, retries=1).execute(
        {"fragile": lambda: kill_first_attempt(marker), "after": lambda: "done"}
    )
    fragile = result.node_results["fragile"]
    assert fragile.status is NodeStatus.COMPLETED
    assert fragile.result == "survived" and fragile.attempts == 2
    assert result.node_results["after"].result == "done"


def test_processes_node_that_keeps_killing_workers_fails_alone() -> None:
    dag = DAG()
    dag.add_nodes(["killer", "other"])
    result = DAGExecutor(
        dag, backend="processes", max_workers=2, retries=2, fail_fast=False
    ).execute({"killer": lambda: os.kill(os.getpid(), signal.SIGKILL), "other": lambda: "fine"})
    killer = result.node_results["killer"]
    assert killer.status is NodeStatus.FAILED and killer.attempts == 3
    assert isinstance(killer.error, WorkerLostError)
    assert "signal 9" in str(killer.error)
    assert result.node_results["other"].result == "fine"


def note_pid_then_sleep(pid_file: str) -> str:
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, pid_file)  # whole, or not there yet
    time.sleep(60)
    return "woke"


@pytest.mark.timeout(60)
def test_processes_stopped_worker_fails_its_node_and_the_run_returns(tmp_path: Path) -> None:
    # No task timeout: only the worker's missing heartbeats can end this node.
    pid_file = tmp_path / "pid"
    stopped: list[int] = []

    def stop_the_worker() -> None:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    stopper = threading.Thread(target=stop_the_worker, daemon=True)
    stopper.start()
    result = DAGExecutor(chain("frozen", "after"), backend="processes", max_workers=1).execute(
        {"frozen": lambda: note_pid_then_sleep(str(pid_file)), "after": lambda: "ran"}
    )
    stopper.join(5)
    frozen = result.node_results["frozen"]
    assert frozen.status is NodeStatus.FAILED and isinstance(frozen.error, WorkerLostError)
    assert "stopped answering" in str(frozen.error)
    assert result.node_results["after"].status is NodeStatus.SKIPPED
    assert stopped and not psutil.pid_exists(stopped[0])  # killed and reaped


def test_processes_unpicklable_task_and_result_name_node_and_type() -> None:
    lock = threading.Lock()
    dag = DAG()
    dag.add_nodes(["holds_lock", "returns_lock", "fine"])
    result = DAGExecutor(dag, backend="processes", max_workers=2, fail_fast=False).execute(
        {"holds_lock": lambda: lock.locked(), "returns_lock": threading.Lock, "fine": lambda: 1}
    )
    task_err = result.node_results["holds_lock"].error
    assert isinstance(task_err, SerializationError)
    assert task_err.node_name == "holds_lock" and "lock" in task_err.type_name
    assert "holds_lock" in str(task_err)
    result_err = result.node_results["returns_lock"].error
    assert isinstance(result_err, SerializationError)
    assert result_err.node_name == "returns_lock" and result_err.what == "result"
    assert result.node_results["fine"].result == 1


def test_processes_cancel_event_stops_promptly() -> None:
    cancel = threading.Event()
    dag = DAG()
    dag.add_nodes(["long", "trigger", "later"])
    dag.add_edge("trigger", "later")

    def on_complete(name: str, *_: Any) -> None:
        if name == "trigger":
            cancel.set()

    callbacks = dagron.ExecutionCallbacks(on_complete=on_complete)
    started = time.monotonic()
    result = DAGExecutor(dag, backend="processes", max_workers=2, callbacks=callbacks).execute(
        {"long": lambda: time.sleep(120), "trigger": lambda: 1, "later": lambda: 2},
        cancel_event=cancel,
    )
    assert time.monotonic() - started < 60
    assert result.node_results["long"].status is NodeStatus.CANCELLED
    assert result.node_results["later"].status is NodeStatus.CANCELLED
    assert result.node_results["trigger"].status is NodeStatus.COMPLETED


def test_processes_local_cluster_keeps_workers_warm() -> None:
    dag = DAG()
    dag.add_nodes([f"n{i}" for i in range(20)])
    tasks = {f"n{i}": os.getpid for i in range(20)}
    with LocalCluster(n_workers=2) as cluster:
        pids = {w["pid"] for w in cluster.workers}
        first = DAGExecutor(dag, backend=cluster).execute(tasks)
        second = DAGExecutor(dag, backend=cluster).execute(tasks)
        assert {r.result for r in first.node_results.values()} <= pids
        assert {r.result for r in second.node_results.values()} <= pids
        assert {w["pid"] for w in cluster.workers} == pids
        assert sum(w["tasks_done"] for w in cluster.workers) == 40
    assert cluster.status.value == "closed"


def test_processes_local_cluster_memory_limit_fails_node() -> None:
    dag = DAG()
    dag.add_nodes(["hog", "fine"])
    with LocalCluster(n_workers=1, memory_limit=200 * 2**20) as cluster:
        result = DAGExecutor(dag, backend=cluster, fail_fast=False).execute(
            {
                "hog": hog_memory,
                "fine": lambda: "ok",
            }
        )
    hog = result.node_results["hog"]
    assert hog.status is NodeStatus.FAILED
    assert isinstance(hog.error, WorkerLostError) and "memory limit" in str(hog.error)
    assert result.node_results["fine"].result == "ok"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("retries", [0, 2])
def test_processes_memory_limit_kill_in_one_allocation_counts_every_attempt(retries: int) -> None:
    # One 2 GiB allocation holds the GIL until it is filled, so the worker is killed before
    # it can say the task began: the kill must still count as that task's attempt.
    dag = DAG()
    dag.add_node("big")
    with LocalCluster(n_workers=1, memory_limit=300 * 2**20) as cluster:
        result = DAGExecutor(dag, backend=cluster, retries=retries).execute(
            {"big": allocate_at_once}
        )
    big = result.node_results["big"]
    assert big.status is NodeStatus.FAILED and big.attempts == retries + 1
    assert isinstance(big.error, WorkerLostError)
    assert "over its memory limit of 300 MiB" in str(big.error)


@pytest.mark.timeout(90)
def test_processes_memory_limit_option_restarts_a_worker_over_it() -> None:
    dag = DAG()
    dag.add_nodes(["big", "fine"])
    executor = DAGExecutor(
        dag, backend="processes", max_workers=1, memory_limit="300MB", fail_fast=False
    )
    result = executor.execute({"big": allocate_at_once, "fine": lambda: "ok"})
    big = result.node_results["big"]
    assert big.status is NodeStatus.FAILED and big.attempts == 1
    assert "over its memory limit of 286 MiB" in str(big.error)  # 300 MB = 286 MiB
    assert result.node_results["fine"].result == "ok"  # queued behind it, never begun


def test_processes_memory_limit_option_needs_a_backend_that_enforces_it() -> None:
    dag = DAG()
    dag.add_node("a")
    with pytest.raises(ValueError, match=r"memory_limit.*'threads'.*processes"):
        DAGExecutor(dag, memory_limit="1GB")
    with pytest.raises(ValueError, match="memory_limit must be"):
        DAGExecutor(dag, backend="processes", memory_limit="lots")
    with LocalCluster(n_workers=1) as cluster:
        executor = DAGExecutor(dag, backend=cluster, memory_limit=2**30)
        with pytest.raises(ValueError, match="LocalCluster"):
            executor.execute({"a": lambda: 1})
        # Nothing was lost: the cluster still runs work.
        assert DAGExecutor(dag, backend=cluster).execute({"a": lambda: 1})["a"].result == 1


def test_processes_local_cluster_takes_a_memory_limit_as_text() -> None:
    with LocalCluster(n_workers=1, memory_limit="2GiB") as cluster:
        assert cluster.memory_limit == 2 * 2**30
    with pytest.raises(ValueError, match="memory_limit must be"):
        LocalCluster(n_workers=1, memory_limit="plenty")


def test_processes_large_load_loses_nothing() -> None:
    n = 20_000
    dag = DAG()
    dag.add_nodes([f"t{i}" for i in range(n)])
    with LocalCluster(n_workers=2) as cluster:
        result = DAGExecutor(dag, backend=cluster).execute({f"t{i}": int for i in range(n)})
        done = sum(w["tasks_done"] for w in cluster.workers)
    assert result.succeeded == n and result.ok
    assert done == n  # every task ran exactly once
    assert all(r.attempts == 1 for r in result.node_results.values())


def test_processes_keyboard_interrupt_cancels_stops_workers_and_raises() -> None:
    import _thread

    dag = DAG()
    dag.add_nodes(["long", "trigger", "next"])
    dag.add_edge("trigger", "next")

    def on_complete(name: str, *_: Any) -> None:
        if name == "trigger":
            _thread.interrupt_main()  # as Ctrl-C would, on the coordinating thread

    callbacks = dagron.ExecutionCallbacks(on_complete=on_complete)
    with pytest.raises(RunInterrupted) as raised:
        DAGExecutor(dag, backend="processes", max_workers=2, callbacks=callbacks).execute(
            {"long": lambda: time.sleep(120), "trigger": lambda: 1, "next": lambda: 2}
        )
    result = raised.value.result
    assert result.node_results["trigger"].status is NodeStatus.COMPLETED
    assert result.node_results["long"].status is NodeStatus.CANCELLED
    assert result.node_results["next"].status is NodeStatus.CANCELLED


BIG = 2 * 2**20  # past dagron.workers.shm.MIN_BYTES: results travel through shared memory


def big_values() -> dict[str, Any]:
    payload = bytes(range(256)) * (BIG // 256)
    return {
        "bytes": payload,
        "bytearray": bytearray(payload),
        "numpy": numpy.arange(BIG // 8, dtype=numpy.float64).reshape(-1, 8),
    }


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a).__module__ == "numpy":
        return bool(a.dtype == b.dtype and a.shape == b.shape and (a == b).all())
    return bool(a == b)


def segment_files(cluster: LocalCluster) -> list[str]:
    segments = cluster._coordinator._segments
    assert segments is not None
    return os.listdir(segments.path)


def test_processes_large_results_round_trip_exactly_through_shared_memory() -> None:
    values = big_values()
    dag = DAG()
    dag.add_nodes([*values, "check"])
    dag.add_edges([(name, "check") for name in values])
    tasks: dict[str, Any] = {name: (lambda parents, v=v: v) for name, v in values.items()}
    # Each value reaches the dependent (on a worker, forwarded by segment name) unchanged.
    tasks["check"] = lambda parents: {n: same(v, values[n]) for n, v in parents.items()}
    result = DAGExecutor(dag, backend="processes", max_workers=2).execute(tasks, pass_results=True)
    assert result.node_results["check"].result == dict.fromkeys(values, True)
    for name, value in values.items():
        assert same(result.node_results[name].result, value), name


def test_processes_cluster_unlinks_segments_when_a_run_ends() -> None:
    values = big_values()
    dag = DAG()
    dag.add_nodes(list(values))
    with LocalCluster(n_workers=2) as cluster:
        result = DAGExecutor(dag, backend=cluster).execute(
            {name: (lambda v=v: v) for name, v in values.items()}
        )
        assert segment_files(cluster) == []  # names gone; results still readable
        for name, value in values.items():
            assert same(result.node_results[name].result, value), name


def test_processes_cluster_unlinks_segments_of_failed_and_cancelled_runs() -> None:
    dag = DAG()
    dag.add_nodes(["big", "bad", "after"])
    dag.add_edge("big", "after")
    dag.add_edge("bad", "after")

    def bad() -> None:
        raise ValueError("no")

    cancel = threading.Event()

    def on_complete(name: str, *_: Any) -> None:
        if name == "big":
            cancel.set()

    callbacks = dagron.ExecutionCallbacks(on_complete=on_complete)
    with LocalCluster(n_workers=2) as cluster:
        failed = DAGExecutor(dag, backend=cluster, fail_fast=False).execute(
            {"big": lambda: bytes(BIG), "bad": bad, "after": lambda: 1}
        )
        assert failed.node_results["bad"].status is NodeStatus.FAILED
        assert failed.node_results["big"].status is NodeStatus.COMPLETED
        assert segment_files(cluster) == []
        cancelled = DAGExecutor(dag, backend=cluster, callbacks=callbacks).execute(
            {"big": lambda: bytes(BIG), "bad": lambda: time.sleep(120), "after": lambda: 1},
            cancel_event=cancel,
        )
        assert cancelled.node_results["bad"].status is NodeStatus.CANCELLED
        assert segment_files(cluster) == []
        assert cancelled.node_results["big"].result == bytes(BIG)


class LoadsBadly:
    """A task that pickles here, but whose unpickling raises: it cannot be loaded on a
    worker."""

    def __call__(self) -> int:
        return 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (int, ("cannot load me",))


def unloadable_task(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A task that pickles here but cannot be loaded on a worker, and the error it gets
    there: its unpickling raises (or that of a helper it calls, which travels on its own), or
    it lives in a module only this process can import."""
    if case == "unpickling raises":
        return LoadsBadly(), "ValueError", "ValueError: invalid literal for int()"
    if case == "its helper's unpickling raises":
        bad = LoadsBadly()

        def helper() -> int:  # a local function: by value, shared by the tasks calling it
            return bad()

        return lambda: helper(), "ValueError", "ValueError: invalid literal for int()"
    module = f"dagron_caller_only_{os.getpid()}_{tmp_path.name}"
    (tmp_path / f"{module}.py").write_text("def task() -> int:\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # here only: workers are already running
    monkeypatch.setitem(sys.modules, module, importlib.import_module(module))
    return sys.modules[module].task, "ModuleNotFoundError", f"No module named {module!r}"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize(
    "case", ["unpickling raises", "its helper's unpickling raises", "module only here"]
)
def test_processes_task_unloadable_on_worker_fails_after_its_attempts(
    case: str, retries: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = DAG()
    dag.add_nodes(["unloadable", "twin", "fine"])
    with LocalCluster(1) as cluster:  # its worker starts before the module exists
        # "twin" shares the task: its function reaches the worker only once
        bad, type_name, detail = unloadable_task(case, tmp_path, monkeypatch)
        result = DAGExecutor(dag, backend=cluster, retries=retries, fail_fast=False).execute(
            {"unloadable": bad, "twin": bad, "fine": lambda: 1}
        )
    for name in ("unloadable", "twin"):
        r = result.node_results[name]
        assert r.status is NodeStatus.FAILED and r.attempts == retries + 1
        err = r.error
        assert isinstance(err, SerializationError)
        assert (err.node_name, err.what, err.type_name) == (name, "task", type_name)
        text = str(err)
        assert f"node {name!r}" in text and "loaded on the worker" in text
        assert "cannot serialize" not in text  # serializing it worked
        assert f"{type_name}: " in text and detail in text
    assert result.node_results["fine"].result == 1


WORKER_ONLY_MODULE = '''
class Outer:
    class WorkerOnlyError(Exception):
        """Importable by the worker only: its module's directory is on no other path."""
'''


def raises_worker_only(directory: str, module: str) -> Any:
    def task() -> None:
        import importlib
        import sys

        sys.path.insert(0, directory)
        raise importlib.import_module(module).Outer.WorkerOnlyError("only the worker knows me")

    return task


@pytest.mark.timeout(30)
def test_processes_exception_only_the_worker_can_import_fails_the_node(tmp_path: Path) -> None:
    module = f"dagron_worker_only_{os.getpid()}_{tmp_path.name}"
    (tmp_path / f"{module}.py").write_text(WORKER_ONLY_MODULE)
    dag = DAG()
    dag.add_nodes(["raises", "fine"])
    result = DAGExecutor(dag, backend="processes", max_workers=1, fail_fast=False).execute(
        {"raises": raises_worker_only(str(tmp_path), module), "fine": lambda: 1}
    )
    assert module not in sys.modules
    r = result.node_results["raises"]
    assert r.status is NodeStatus.FAILED
    err = r.error
    assert isinstance(err, RemoteTaskError)
    assert err.type_name == "Outer.WorkerOnlyError"
    assert err.remote_message == "only the worker knows me"
    assert "Outer.WorkerOnlyError: only the worker knows me" in err.remote_traceback
    assert ", in task\n" in err.remote_traceback  # the frame that raised
    assert "cannot be unpickled here" in str(err) and "No module named" in str(err)
    assert result.node_results["fine"].result == 1


def _rebuild_off_the_coordinator(coordinator_pid: int, message: str) -> Exception:
    if os.getpid() == coordinator_pid:
        raise RuntimeError("refuses to be unpickled by the coordinator")
    return RefusesTheCoordinator(coordinator_pid, message)


class RefusesTheCoordinator(Exception):
    """Unpickles on the worker, but its unpickling raises on the coordinator."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_off_the_coordinator, self.args)


def raises_refusing(coordinator_pid: int) -> Any:
    def task() -> None:
        raise RefusesTheCoordinator(coordinator_pid, "loads only on workers")

    return task


@pytest.mark.timeout(30)
def test_processes_exception_whose_unpickling_raises_fails_the_node() -> None:
    dag = DAG()
    dag.add_nodes(["raises", "fine"])
    result = DAGExecutor(dag, backend="processes", max_workers=1, fail_fast=False).execute(
        {"raises": raises_refusing(os.getpid()), "fine": lambda: 1}
    )
    r = result.node_results["raises"]
    assert r.status is NodeStatus.FAILED
    err = r.error
    assert isinstance(err, RemoteTaskError)
    assert err.type_name == "RefusesTheCoordinator"
    assert "loads only on workers" in err.remote_message
    assert "RefusesTheCoordinator" in err.remote_traceback
    assert ", in task\n" in err.remote_traceback  # the frame that raised
    assert "refuses to be unpickled by the coordinator" in str(err)
    assert result.node_results["fine"].result == 1


class MuteError(Exception):
    """An exception that cannot be described: its ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no words")

    def __repr__(self) -> str:
        raise RuntimeError("no words")


def raise_mute() -> None:
    raise MuteError("unsayable")


@pytest.mark.timeout(30)
def test_processes_exception_whose_str_raises_fails_its_node_and_is_described(
    check_undescribable_failure: Callable[[dagron.ExecutionResult, str, str], None],
) -> None:
    dag = chain("mute", "after")
    dag.add_node("fine")
    result = DAGExecutor(
        dag, backend="processes", max_workers=1, retries=1, fail_fast=False
    ).execute({"mute": raise_mute, "after": lambda: 1, "fine": lambda: 2}, progress=True)
    check_undescribable_failure(result, "mute", "MuteError")
    assert result.node_results["mute"].attempts == 2
    assert "MuteError" in (result.node_results["mute"].traceback or "")
    assert result.node_results["fine"].result == 2


class PicklesMutely:
    """Its pickling raises an exception that cannot be described."""

    def __reduce__(self) -> tuple[Any, ...]:
        raise MuteError("unsayable")


@pytest.mark.timeout(30)
def test_processes_undescribable_pickling_errors_fail_their_nodes() -> None:
    dag = DAG()
    dag.add_nodes(["task", "result", "fine"])
    unpicklable = PicklesMutely()
    result = DAGExecutor(dag, backend="processes", max_workers=1, fail_fast=False).execute(
        {"task": lambda: unpicklable, "result": PicklesMutely, "fine": lambda: 2}
    )
    for name in ("task", "result"):
        r = result.node_results[name]
        assert r.status is NodeStatus.FAILED and r.attempts == 1
        assert isinstance(r.error, SerializationError) and r.error.node_name == name
        assert "<describing it failed: RuntimeError>" in str(r.error)
    assert result.node_results["fine"].result == 2


@pytest.mark.timeout(120)
def test_processes_fail_fast_over_many_failing_tasks_returns_every_time() -> None:
    # Fail-fast cancels what is queued while workers' reports and status pages race: a
    # task whose start was read off a page before the reports ahead of it arrived must not
    # break the cancel.
    names = [f"n{i}" for i in range(5000)]
    dag = DAG()
    dag.add_nodes(names)
    with LocalCluster(n_workers=2) as cluster:
        executor = DAGExecutor(dag, backend=cluster)
        needs_one = lambda i: None  # noqa: E731  (called without it: a TypeError each)
        for _ in range(8):
            result = executor.execute(dict.fromkeys(names, needs_one))
            statuses = {r.status for r in result.node_results.values()}
            assert len(result.node_results) == len(names)
            assert NodeStatus.FAILED in statuses and NodeStatus.COMPLETED not in statuses
