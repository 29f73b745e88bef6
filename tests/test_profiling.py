"""dagron.profile: numbers checked on hand-built runs whose answers are known."""

from __future__ import annotations

import doctest
import json

import pytest

import dagron
from dagron import DAG, DAGExecutor, ExecutionResult, NodeResult, NodeStatus, Trace
from dagron.profiling import Bottleneck, Profile, WorkerUsage, profile

EDGES = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def done(name: str, start: float, end: float, worker: str | None, attempts: int = 1) -> NodeResult:
    return NodeResult(
        name,
        NodeStatus.COMPLETED,
        duration_seconds=end - start,
        started_at=start,
        finished_at=end,
        attempts=attempts,
        worker=worker,
    )


def diamond_run() -> ExecutionResult:
    """a (1 s) -> b (3 s) and c (1 s) -> d (2 s) on two workers; the run spans 100..107.

    w1: a [100, 101], b [101, 104]
    w2: c [101.5, 102.5], d [104.5, 106.5]
    """
    results = {
        "a": done("a", 100.0, 101.0, "h/w1"),
        "b": done("b", 101.0, 104.0, "h/w1"),
        "c": done("c", 101.5, 102.5, "h/w2"),
        "d": done("d", 104.5, 106.5, "h/w2"),
    }
    trace = Trace.from_results(results, EDGES, started_at=100.0, finished_at=107.0)
    return ExecutionResult(results, 7.0, trace)


def test_profile_diamond_critical_path_and_bottlenecks() -> None:
    p = dagron.profile(diamond_run())
    assert p.makespan == 7.0
    assert (p.nodes, p.executed) == (4, 4)
    assert p.critical_path == ["a", "b", "d"]
    assert p.critical_path_seconds == 6.0
    # without b the heaviest chain is a, c, d = 4 s: b saves 2 s; d saves 2 s; a saves 1 s
    assert p.bottlenecks == [
        Bottleneck("b", 3.0, 2.0),
        Bottleneck("d", 2.0, 2.0),
        Bottleneck("a", 1.0, 1.0),
    ]
    assert p.slack == {"a": 0.0, "b": 0.0, "c": 2.0, "d": 0.0}
    assert p.durations == {"a": 1.0, "b": 3.0, "c": 1.0, "d": 2.0}


def test_profile_diamond_workers_and_efficiency() -> None:
    p = diamond_run().profile()
    assert p.workers == [WorkerUsage("h/w1", 4.0, 3.0, 2), WorkerUsage("h/w2", 3.0, 4.0, 2)]
    assert p.workers[0].utilisation == pytest.approx(4 / 7)
    assert p.n_workers == 2 and p.busy_seconds == 7.0
    assert p.parallel_efficiency == pytest.approx(7.0 / (2 * 7.0))
    assert dagron.profile(diamond_run(), workers=4).parallel_efficiency == pytest.approx(0.25)


def test_profile_methods_match_the_function() -> None:
    run = diamond_run()
    assert run.trace is not None
    expected = dagron.profile(run, workers=3)
    assert run.profile(workers=3) == expected
    assert run.trace.profile(workers=3) == expected


def test_profile_diamond_scheduling_overhead() -> None:
    p = dagron.profile(diamond_run())
    # a: ready at the run's start, started at once; b: ready at 101 (a done), started 101;
    # c: ready 101, started 101.5; d: ready 104 (b done, c done at 102.5), started 104.5
    assert p.waits == {"a": 0.0, "b": 0.0, "c": 0.5, "d": 0.5}
    assert p.scheduling_overhead == 1.0
    assert p.mean_wait == 0.25 and p.max_wait == 0.5


def test_profile_counts_every_attempt_and_overlaps_once() -> None:
    failed = NodeResult(
        "x",
        NodeStatus.FAILED,
        error=ValueError("first try"),
        duration_seconds=1.0,
        started_at=0.0,
        finished_at=1.0,
        attempts=1,
        worker="h/w1",
    )
    results = {
        "x": done("x", 1.5, 3.5, "h/w1", attempts=2),
        "y": done("y", 0.0, 2.0, "h/w2"),
        "z": done("z", 1.0, 4.0, "h/w2"),  # overlaps y on the same worker
        "s": NodeResult("s", NodeStatus.SKIPPED),
    }
    trace = Trace.from_results(
        results, [("x", "s")], started_at=0.0, finished_at=4.0, earlier_attempts=[failed]
    )
    p = profile(trace)
    assert p.durations == {"x": 3.0, "y": 2.0, "z": 3.0, "s": 0.0}
    assert p.executed == 3 and p.nodes == 4
    usage = {w.worker: w for w in p.workers}
    assert usage["h/w1"] == WorkerUsage("h/w1", 3.0, 1.0, 2)  # [0, 1] + [1.5, 3.5]
    assert usage["h/w2"] == WorkerUsage("h/w2", 4.0, 0.0, 2)  # [0, 2] u [1, 4]
    assert p.waits["x"] == 0.0  # counted from its first attempt
    assert p.critical_path_seconds == 3.0
    assert {tuple(p.critical_path)} <= {("x",), ("z",)}


def test_profile_caps_workers_at_the_runs_slots() -> None:
    # The calling thread ran "a" before the pool started; the pool then used two threads.
    results = {
        "a": done("a", 0.0, 1.0, "h/1/MainThread"),
        "b": done("b", 1.0, 2.0, "h/1/dagron-worker-0"),
        "c": done("c", 1.0, 2.0, "h/1/dagron-worker-1"),
    }
    edges = [("a", "b"), ("a", "c")]
    trace = Trace.from_results(results, edges, started_at=0.0, finished_at=2.0, slots=2)
    p = profile(trace)
    assert len(p.workers) == 3 and p.n_workers == 2
    assert p.parallel_efficiency == pytest.approx(3.0 / (2 * 2.0))


def test_profile_without_a_trace_needs_the_dag() -> None:
    run = diamond_run()
    bare = ExecutionResult(run.node_results, 7.0)
    with pytest.raises(ValueError, match="enable_tracing=True"):
        dagron.profile(bare)
    dag = DAG.builder().add_nodes(list("abcd")).add_edges(EDGES).build()
    p = bare.profile(dag=dag)
    # without a trace the run is taken to span the first start to the last end
    assert p.makespan == 6.5
    assert p.critical_path == ["a", "b", "d"]


def test_profile_summary_and_to_dict() -> None:
    p = dagron.profile(diamond_run())
    text = p.summary()
    assert "critical path: 6.000 s (86% of the run): a -> b -> d" in text
    assert "parallel efficiency: 50.0%" in text
    assert "b  took   3.000 s  saves   2.000 s" in text
    assert "h/w1  busy   4.000 s  idle   3.000 s   57%  2 task(s)" in text
    assert "total 1.000 s, mean 250.0 ms, max 500.0 ms (c)" in text
    assert str(p) == text
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["critical_path"] == ["a", "b", "d"]
    assert d["bottlenecks"][0] == {"node": "b", "seconds": 3.0, "saving": 2.0}
    assert d["scheduling_overhead"]["per_node"]["d"] == 0.5
    assert d["workers"][1]["busy"] == 3.0


def test_profile_of_an_empty_and_of_a_failed_run() -> None:
    empty = DAGExecutor(DAG(), enable_tracing=True).execute({})
    p = empty.profile()
    assert (p.nodes, p.executed, p.critical_path, p.parallel_efficiency) == (0, 0, [], 0.0)
    assert "0 of 0 nodes" in p.summary()

    dag = DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").build()
    result = DAGExecutor(dag, enable_tracing=True).execute({"a": lambda: 1 / 0, "b": print})
    p = result.profile()
    assert p.executed == 1 and p.durations["b"] == 0.0
    assert isinstance(p, Profile)


def test_profile_of_a_real_chain_follows_the_chain() -> None:
    names = [f"n{i}" for i in range(20)]
    dag = DAG.builder().add_nodes(names).add_edges(list(zip(names, names[1:]))).build()
    result = DAGExecutor(dag, enable_tracing=True).execute(dict.fromkeys(names, lambda: None))
    p = dagron.profile(result)
    assert p.critical_path == names
    assert p.executed == 20 and p.n_workers == 1
    assert all(v == 0.0 for v in p.slack.values())
    assert 0.0 < p.parallel_efficiency <= 1.0
    assert p.critical_path_seconds <= p.makespan


def test_profiling_module_doctests() -> None:
    import dagron.profiling

    assert doctest.testmod(dagron.profiling).failed == 0
