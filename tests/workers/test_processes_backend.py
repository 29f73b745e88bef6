"""The "processes" backend: a run borrows the default pool, or starts workers of its own
while another run holds it; it leaves the pool sound or stops it."""

from __future__ import annotations

import os
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from dagron import DAG, DAGExecutor
from dagron.backends import create_backend
from dagron.workers.default_pool import DEFAULT_POOL, DefaultPool
from dagron.workers.processes_backend import ProcessesBackend
from dagron.workers.status import Status
from dagron.workers.testing import collect, wait_for_gone


def test_processes_backend_is_what_the_name_makes() -> None:
    assert isinstance(create_backend("processes"), ProcessesBackend)


def test_processes_backend_borrows_the_pool_and_gives_it_back_clean() -> None:
    pool = DefaultPool()
    backend = ProcessesBackend(pool)
    backend.start(2)
    try:
        assert pool.coordinator is not None
        assert backend.slots == 2 and backend.capacity == pool.coordinator.capacity
        backend.submit(1, pow, (2, 5))
        done = collect(pool.coordinator, {1})  # the run's coordinator is the pool's
        assert done[1].value.load() == 32
    finally:
        backend.shutdown(wait=False)
    coordinator = pool.coordinator
    assert coordinator is not None and coordinator.status is Status.RUNNING
    pool.shutdown()
    assert coordinator.status is Status.CLOSED


def test_processes_backend_interrupted_stops_the_pool() -> None:
    pool = DefaultPool()
    backend = ProcessesBackend(pool)
    backend.start(1)
    coordinator = pool.coordinator
    assert coordinator is not None
    pids = [w["pid"] for w in coordinator.workers]
    backend.submit(1, time.sleep, (60,))
    backend.interrupt()
    backend.cancel(1)  # after an interrupt: nothing, every worker is about to stop
    backend.shutdown(wait=False)
    assert coordinator.status is Status.CLOSED and pool.coordinator is None
    assert wait_for_gone(pids) == []


def test_processes_backend_memory_limit_is_set_before_the_run() -> None:
    pool = DefaultPool()
    backend = ProcessesBackend(pool)
    backend.limit_memory(2**30)
    backend.start(1)
    try:
        assert pool.coordinator is not None and pool.coordinator.memory_limit == 2**30
        with pytest.raises(ValueError, match="before the run starts"):
            backend.limit_memory(2**31)
    finally:
        backend.shutdown(wait=False)
        pool.shutdown()


def wait_for(path: str) -> None:
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)


def held_until(began: str, release: str) -> int:
    Path(began).touch()
    wait_for(release)
    return os.getpid()


def releases(release: str) -> int:
    Path(release).touch()
    return os.getpid()


@pytest.mark.timeout(120)
def test_processes_backend_runs_from_two_threads_at_once(tmp_path: Path) -> None:
    # The first run holds the pool until the second, on workers of its own, releases it.
    began, release = str(tmp_path / "began"), str(tmp_path / "release")
    dag = DAG()
    dag.add_node("n")
    held: dict[str, int] = {}

    def first_run() -> None:
        result = DAGExecutor(dag, backend="processes", max_workers=1).execute(
            {"n": partial(held_until, began, release)}
        )
        held["pid"] = result["n"].result

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        wait_for(began)
        coordinator = DEFAULT_POOL.coordinator
        assert coordinator is not None
        pool_pid = coordinator.workers[0]["pid"]
        second = DAGExecutor(dag, backend="processes", max_workers=1).execute(
            {"n": partial(releases, release)}
        )
    finally:
        Path(release).touch()
        thread.join(60)
    own_pid = second["n"].result
    assert held["pid"] == pool_pid and own_pid != pool_pid
    assert wait_for_gone([own_pid]) == [], "the second run's own worker outlived it"
    assert DEFAULT_POOL.coordinator is coordinator  # the pool stays, for the next run
    again = DAGExecutor(dag, backend="processes", max_workers=1).execute({"n": os.getpid})
    assert again["n"].result == pool_pid


def test_processes_backend_trace_counts_the_runs_workers() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    for _ in range(2):  # the pool's start, then its reuse
        result = DAGExecutor(dag, backend="processes", max_workers=2, enable_tracing=True).execute(
            {"a": int, "b": int}
        )
        assert result.trace is not None and result.trace.slots == 2
        # Offsets of the pool's workers, for every worker that ran a task at least (a run
        # may begin, and end, before a second worker has joined).
        pool = {w["name"] for w in DEFAULT_POOL.coordinator.workers}  # type: ignore[union-attr]
        assert set(result.trace.workers) <= set(result.trace.clock_offsets) <= pool
