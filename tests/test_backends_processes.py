"""The processes backend through DAGExecutor: same results as threads, real faults."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import psutil
import pytest

import dagron
from dagron import DAG, DAGExecutor, LocalCluster, NodeStatus, Pipeline, task
from dagron.errors import SerializationError, TaskTimeoutError, WorkerLostError
from dagron.workers.testing import (
    allocate_at_once,
    hog_memory,
    segment_dirs,
    wait_for_no_segment_dirs,
    wait_for_no_workers,
)


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    assert wait_for_no_workers() == [], "worker processes outlived the run"


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = segment_dirs()
    yield
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


def test_processes_keyboard_interrupt_cancels_and_stops_workers() -> None:
    import _thread

    dag = DAG()
    dag.add_nodes(["long", "trigger", "next"])
    dag.add_edge("trigger", "next")

    def on_complete(name: str, *_: Any) -> None:
        if name == "trigger":
            _thread.interrupt_main()  # as Ctrl-C would, on the coordinating thread

    callbacks = dagron.ExecutionCallbacks(on_complete=on_complete)
    result = DAGExecutor(dag, backend="processes", max_workers=2, callbacks=callbacks).execute(
        {"long": lambda: time.sleep(120), "trigger": lambda: 1, "next": lambda: 2}
    )
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
