"""The dask backend against a real distributed.LocalCluster (worker processes)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dagron import DAG, DAGExecutor, DaskBackend, NodeStatus, Pipeline, task
from dagron.backends.dask_backend import DaskResult
from dagron.errors import SerializationError, TaskTimeoutError, WorkerLostError

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # One death is enough to give up on a task: Dask's own retries are covered by its tests.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def chain(*names: str) -> DAG:
    dag = DAG()
    dag.add_nodes(names)
    dag.add_edges(list(zip(names, names[1:])))
    return dag


ETL = {
    "extract": lambda: [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
    "transform": lambda: [{"id": 1, "name": "ALICE"}, {"id": 2, "name": "BOB"}],
    "load": lambda: "2 rows written",
}


def test_dask_seed_etl_matches_threads(client: Any) -> None:
    dag = chain("extract", "transform", "load")
    threads = DAGExecutor(dag).execute(ETL)
    on_dask = DAGExecutor(dag, backend=DaskBackend(client)).execute(ETL)
    assert {n: (r.status, r.result) for n, r in on_dask.node_results.items()} == {
        n: (r.status, r.result) for n, r in threads.node_results.items()
    }
    for r in on_dask.node_results.values():
        assert (r.worker or "").startswith("tcp://") and r.attempts == 1
        assert r.started_at is not None and r.finished_at is not None


def test_dask_fan_out_runs_in_parallel_with_worker_times(client: Any) -> None:
    dag = DAG()
    dag.add_nodes(["a", "b", "merge"])
    dag.add_edges([("a", "merge"), ("b", "merge")])
    result = DAGExecutor(dag, backend=DaskBackend(client)).execute(
        {"a": lambda: time.sleep(0.4), "b": lambda: time.sleep(0.4), "merge": lambda: "merged"}
    )
    a, b = result.node_results["a"], result.node_results["b"]
    assert a.started_at is not None and a.finished_at is not None
    assert b.started_at is not None and b.finished_at is not None
    assert a.started_at < b.finished_at and b.started_at < a.finished_at
    assert a.duration_seconds >= 0.4 and b.duration_seconds >= 0.4
    assert result.node_results["merge"].result == "merged"


def test_dask_failure_table_and_remote_traceback(client: Any) -> None:
    def bad_transform() -> None:
        raise ValueError("Data quality check failed!")

    dag = chain("extract", "transform", "load")
    result = DAGExecutor(dag, backend=DaskBackend(client)).execute(
        dict(ETL, transform=bad_transform)
    )
    assert [r.status for r in result.node_results.values()] == [
        NodeStatus.COMPLETED,
        NodeStatus.FAILED,
        NodeStatus.SKIPPED,
    ]
    failed = result.node_results["transform"]
    assert isinstance(failed.error, ValueError)
    assert failed.traceback is not None and "bad_transform" in failed.traceback


def test_dask_results_move_between_workers_not_through_the_client(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Any] = []
    original = DaskResult.load

    def counted(self: DaskResult) -> Any:
        loads.append(self)
        return original(self)

    monkeypatch.setattr(DaskResult, "load", counted)
    dag = DAG()
    dag.add_nodes(["make", "other", "use"])
    dag.add_edges([("make", "use"), ("other", "use")])
    result = DAGExecutor(dag, backend=DaskBackend(client)).execute(
        {
            "make": lambda parents: b"x" * 1_000_000,
            "other": lambda parents: 2,
            "use": lambda parents: len(parents["make"]) * parents["other"],
        },
        pass_results=True,
    )
    assert loads == []  # nothing was pulled to the client during the run
    assert result.node_results["use"].result == 2_000_000
    assert len(loads) == 1  # only the value read here


def test_dask_pipeline_data_passing(client: Any) -> None:
    @task
    def fetch() -> list[int]:
        return [1, 2, 3]

    @task
    def double(fetch: list[int]) -> list[int]:
        return [x * 2 for x in fetch]

    @task
    def save(double: list[int]) -> str:
        return f"saved {len(double)} items"

    result = Pipeline([fetch, double, save], name="numbers").execute(backend=DaskBackend(client))
    assert result.node_results["save"].result == "saved 3 items"


def test_dask_timeout_marks_node_and_skips_downstream(client: Any) -> None:
    dag = DAG()
    dag.add_nodes(["slow", "after", "fine"])
    dag.add_edge("slow", "after")
    result = DAGExecutor(dag, backend=DaskBackend(client), fail_fast=False).execute(
        {"slow": lambda: time.sleep(2), "after": lambda: 1, "fine": lambda: "ok"},
        timeout={"slow": 0.3},
    )
    slow = result.node_results["slow"]
    assert slow.status is NodeStatus.TIMED_OUT and isinstance(slow.error, TaskTimeoutError)
    assert result.node_results["after"].status is NodeStatus.SKIPPED
    assert result.node_results["fine"].result == "ok"


def test_dask_unpicklable_task_and_result(client: Any) -> None:
    lock = threading.Lock()
    dag = DAG()
    dag.add_nodes(["holds", "returns", "fine"])
    result = DAGExecutor(dag, backend=DaskBackend(client), fail_fast=False).execute(
        {"holds": lambda: lock.locked(), "returns": threading.Lock, "fine": lambda: 1}
    )
    holds = result.node_results["holds"].error
    assert isinstance(holds, SerializationError) and holds.node_name == "holds"
    returns = result.node_results["returns"].error
    assert isinstance(returns, SerializationError)
    assert returns.node_name == "returns" and returns.what == "result"
    assert result.node_results["fine"].result == 1


def test_dask_killed_worker_is_worker_lost(client: Any) -> None:
    dag = DAG()
    dag.add_nodes(["killer", "fine"])
    result = DAGExecutor(dag, backend=DaskBackend(client), fail_fast=False).execute(
        {"killer": lambda: os.kill(os.getpid(), signal.SIGKILL), "fine": lambda: "ok"}
    )
    killer = result.node_results["killer"]
    assert killer.status is NodeStatus.FAILED
    assert isinstance(killer.error, WorkerLostError)
    assert result.node_results["fine"].result == "ok"
    client.wait_for_workers(2, timeout=60)  # the nanny brings it back for the next test


def test_dask_backend_by_name_uses_the_default_client(client: Any) -> None:
    result = DAGExecutor(chain("a", "b"), backend="dask").execute({"a": int, "b": int})
    assert result.ok
    assert all((r.worker or "").startswith("tcp://") for r in result.node_results.values())


class MuteError(Exception):
    """An exception that cannot be described: its ``__str__`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no words")


class PicklesMutely:
    """Its pickling raises an exception that cannot be described."""

    def __reduce__(self) -> tuple[Any, ...]:
        raise MuteError("unsayable")


@pytest.mark.timeout(60)
def test_dask_undescribable_pickling_errors_fail_their_nodes(client: Any) -> None:
    dag = DAG()
    dag.add_nodes(["task", "result", "fine"])
    unpicklable = PicklesMutely()
    result = DAGExecutor(dag, backend=DaskBackend(client), fail_fast=False).execute(
        {"task": lambda: unpicklable, "result": PicklesMutely, "fine": lambda: 2}
    )
    for name in ("task", "result"):
        r = result.node_results[name]
        assert r.status is NodeStatus.FAILED
        assert isinstance(r.error, SerializationError) and r.error.node_name == name
        assert "<describing it failed: RuntimeError>" in str(r.error)
    assert result.node_results["fine"].result == 2
