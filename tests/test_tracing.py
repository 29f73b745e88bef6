"""Traces: what enable_tracing records, and the Chrome Trace Event JSON made from it.

Invariants checked on real runs (threads, processes, asyncio) and on hand-built traces: every
attempt has one complete ("X") event on the lane of the worker that ran it, its duration is the
NodeResult's, every lane and process is named by a metadata ("M") event, lanes never hold
overlapping events, failures/retries/timeouts/skips/cancellations are instant ("i") events, and
the whole document is JSON.
"""

from __future__ import annotations

import asyncio
import doctest
import json
import os
import pickle
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dagron
from dagron import DAG, AsyncDAGExecutor, DAGExecutor, NodeResult, NodeStatus, Trace
from dagron.result import TraceEvent
from dagron.tracing import Attempt, ClockOffset
from dagron.workers.testing import wait_for_no_workers

WAIT = 10.0


def make_dag(nodes: list[str], edges: list[tuple[str, str]] = ()) -> DAG:  # type: ignore[assignment]
    dag = DAG()
    dag.add_nodes(nodes)
    dag.add_edges(list(edges))
    return dag


def diamond() -> DAG:
    return make_dag(
        ["a", "b", "c", "d", "e"],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "e")],
    )


@pytest.fixture
def release() -> Iterator[threading.Event]:
    ev = threading.Event()
    yield ev
    ev.set()


def chrome(trace: Trace) -> dict[str, Any]:
    doc = trace.to_chrome_trace()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc  # plain JSON, no NaN
    return doc


def lane_names(doc: dict[str, Any]) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    procs: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "process_name":
            procs[e["pid"]] = e["args"]["name"]
        if e["ph"] == "M" and e["name"] == "thread_name":
            threads[e["pid"], e["tid"]] = e["args"]["name"]
    return procs, threads


def check_invariants(result: dagron.ExecutionResult) -> dict[str, Any]:
    """The invariants every Chrome trace of a run must satisfy; returns the document."""
    trace = result.trace
    assert isinstance(trace, Trace)
    doc = chrome(trace)
    events = doc["traceEvents"]
    procs, threads = lane_names(doc)
    for e in events:
        assert e["ph"] in ("X", "M", "i")
        assert isinstance(e["pid"], int) and e["pid"] in procs, e
        if e["ph"] != "M":
            assert isinstance(e["tid"], int) and (e["pid"], e["tid"]) in threads, e
            assert isinstance(e["ts"], float) and e["ts"] >= -1.0  # us since the run began
        if e["ph"] == "i":
            assert e["s"] == "t"
    for e in events:
        required = {"X": {"name", "ts", "dur", "pid", "tid"}, "i": {"name", "ts", "pid", "tid"}}
        assert required.get(e["ph"], {"name", "pid", "args"}) <= set(e), e
        if e["ph"] == "X":
            assert e["dur"] >= 0
    # thread ids are unique across the trace and never a pid (Perfetto tracks threads by tid)
    assert len({tid for _, tid in threads}) == len(threads)
    assert not {tid for _, tid in threads} & set(procs)
    node_events = [e for e in events if e["ph"] == "X" and e["cat"] == "node"]
    # one X event per attempt, and per node exactly as many as it had attempts
    per_node = Counter(e["args"]["node"] for e in node_events)
    for name, r in result.node_results.items():
        ran = r.status in (NodeStatus.COMPLETED, NodeStatus.FAILED) or (
            r.status is NodeStatus.TIMED_OUT
        )
        if r.status is NodeStatus.COMPLETED:
            finals = [
                e
                for e in node_events
                if e["args"]["node"] == name and e["args"]["status"] == "completed"
            ]
            assert len(finals) == 1, name
            (x,) = finals
            # on the lane of the worker that ran it
            assert x["args"]["worker"] == r.worker
            assert r.worker is not None
            process, _, thread = r.worker.rpartition("/")
            assert threads[x["pid"], x["tid"]] == thread
            host = process.split("/")[0]
            assert host in procs[x["pid"]]
            if process.count("/") == 1:  # host/pid: the Chrome pid is the real pid
                assert x["pid"] == int(process.rpartition("/")[2])
            # durations match the NodeResult (to the microsecond, after rounding)
            assert x["dur"] == pytest.approx(r.duration_seconds * 1e6, abs=0.01)
            assert r.started_at is not None
            assert x["ts"] == pytest.approx((r.started_at - trace.started_at) * 1e6, abs=0.01)
        if ran:
            assert per_node[name] == r.attempts, name
        elif r.status is NodeStatus.SKIPPED:
            assert per_node[name] == 0
    # a lane never holds overlapping events (viewers draw X events as a stack per lane)
    by_lane: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in node_events:
        by_lane.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_lane.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end - 0.01
    return doc


def instants(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["cat"], e["args"]["node"]) for e in doc["traceEvents"] if e["ph"] == "i"}


# -- real runs -----------------------------------------------------------------------------


def test_tracing_threads_run_has_one_x_event_per_node_on_its_worker_lane() -> None:
    barrier = threading.Barrier(2, timeout=WAIT)  # b and c provably run at once
    tasks = {
        "a": lambda: 1,
        "b": barrier.wait,
        "c": barrier.wait,
        "d": lambda: 4,
        "e": lambda: 5,
    }
    result = DAGExecutor(diamond(), max_workers=2, enable_tracing=True).execute(tasks)
    assert result.ok
    doc = check_invariants(result)
    assert result["b"].worker != result["c"].worker
    trace = result.trace
    assert trace is not None
    assert trace.nodes == list(result.node_results)
    assert sorted(trace.edges) == sorted(diamond().edges())
    assert trace.started_at <= min(r.started_at or 0 for r in result.node_results.values())
    assert trace.finished_at >= max(r.finished_at or 0 for r in result.node_results.values())
    assert trace.coordinator == f"{socket.gethostname()}/{os.getpid()}"
    assert trace.slots == 2
    assert instants(doc) == set()
    run = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "run"]
    assert len(run) == 1 and run[0]["ts"] == 0.0
    assert run[0]["dur"] == pytest.approx(trace.duration * 1e6, abs=0.01)
    procs, threads = lane_names(doc)
    assert "dagron scheduler" in threads.values()
    assert all(socket.gethostname() in name for name in procs.values())


def test_tracing_records_attempts_failures_retries_and_skips() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try again")
        return "ok"

    def broken() -> None:
        raise ValueError("bad <input>")

    dag = make_dag(["flaky", "broken", "after", "other"], [("broken", "after")])
    tasks = {"flaky": flaky, "broken": broken, "after": lambda: None, "other": lambda: 1}
    result = DAGExecutor(dag, max_workers=1, fail_fast=False, retries={"flaky": 2}).execute(tasks)
    assert result.trace is None  # off by default
    calls.clear()
    result = DAGExecutor(
        dag, max_workers=1, fail_fast=False, retries={"flaky": 2}, enable_tracing=True
    ).execute(tasks)
    assert result["flaky"].attempts == 2 and result["broken"].status is NodeStatus.FAILED
    doc = check_invariants(result)
    trace = result.trace
    assert trace is not None
    flaky_tries = trace.attempts_of("flaky")
    assert [(a.attempt, a.status) for a in flaky_tries] == [
        (1, NodeStatus.FAILED),
        (2, NodeStatus.COMPLETED),
    ]
    assert flaky_tries[0].error == "ConnectionError: try again"
    assert flaky_tries[0].worker is not None
    assert instants(doc) == {("retry", "flaky"), ("failure", "broken"), ("skip", "after")}
    # the failure is drawn on the lane of the worker that ran it, at the attempt's end
    (fail,) = [e for e in doc["traceEvents"] if e["ph"] == "i" and e["cat"] == "failure"]
    (bar,) = [e for e in doc["traceEvents"] if e["ph"] == "X" and e.get("name") == "broken"]
    assert (fail["pid"], fail["tid"]) == (bar["pid"], bar["tid"])
    (broken_try,) = trace.attempts_of("broken")
    # at the attempt's end: after the call itself (the bar), never before it
    span_us = (broken_try.finished_at - broken_try.started_at) * 1e6
    assert fail["ts"] - bar["ts"] == pytest.approx(span_us, abs=1)
    assert fail["ts"] >= bar["ts"] + bar["dur"] - 1
    assert bar["args"]["error"] == "ValueError: bad <input>"
    assert bar["cname"] == "terrible"
    assert [(e.node, e.event) for e in trace if e.node == "flaky"] == [
        ("flaky", "start"),
        ("flaky", "retry"),
        ("flaky", "start"),
        ("flaky", "complete"),
    ]


def test_tracing_timeout_attempt_on_unknown_lane_with_timeout_instant(
    release: threading.Event,
) -> None:
    dag = make_dag(["stuck", "after", "quick"], [("stuck", "after")])
    tasks = {"stuck": lambda: release.wait(WAIT), "after": lambda: 1, "quick": lambda: 2}
    result = DAGExecutor(
        dag, timeout={"stuck": 0.05}, fail_fast=False, enable_tracing=True
    ).execute(tasks)
    release.set()
    assert result["stuck"].status is NodeStatus.TIMED_OUT
    doc = check_invariants(result)
    assert ("timeout", "stuck") in instants(doc) and ("skip", "after") in instants(doc)
    (bar,) = [e for e in doc["traceEvents"] if e["ph"] == "X" and e.get("name") == "stuck"]
    _, threads = lane_names(doc)
    # a thread abandoned at its timeout never reports, but its started notice named it
    assert threads[bar["pid"], bar["tid"]].startswith("dagron-worker")
    assert bar["args"]["status"] == "timed_out" and bar["cname"] == "bad"


def test_tracing_cancellation_is_an_instant_per_cancelled_node(
    release: threading.Event,
) -> None:
    cancel = threading.Event()

    def first() -> None:
        cancel.set()
        release.wait(WAIT)

    dag = make_dag(["first", "second"], [("first", "second")])
    result = DAGExecutor(dag, enable_tracing=True).execute(
        {"first": first, "second": lambda: None}, cancel_event=cancel
    )
    release.set()
    assert result.cancelled == 2
    doc = check_invariants(result)
    assert instants(doc) == {("cancel", "first"), ("cancel", "second")}
    trace = result.trace
    assert trace is not None
    # "first" was in flight: drawn from its dispatch to the cancellation
    (a,) = trace.attempts_of("first")
    assert a.status is NodeStatus.CANCELLED and a.finished_at >= a.started_at


def test_tracing_async_overlapping_coroutines_get_separate_sub_lanes() -> None:
    async def main() -> dagron.ExecutionResult:
        a_in, b_in = asyncio.Event(), asyncio.Event()

        async def a() -> None:
            a_in.set()
            await b_in.wait()

        async def b() -> None:
            b_in.set()
            await a_in.wait()

        return await AsyncDAGExecutor(make_dag(["a", "b"]), enable_tracing=True).execute(
            {"a": a, "b": b}
        )

    result = asyncio.run(main())
    assert result["a"].worker == result["b"].worker  # one event loop runs both
    trace = result.trace
    assert trace is not None
    lanes = trace.lanes()
    assert [lane.sub for lane in lanes] == [0, 1]
    assert lanes[1].label.endswith("/asyncio #2")
    doc = chrome(trace)
    bars = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "node"]
    assert len({(e["pid"], e["tid"]) for e in bars}) == 2
    assert trace.slots is None  # no max_workers: unbounded


def test_tracing_processes_backend_lanes_are_worker_processes() -> None:
    def where() -> int:
        return os.getpid()

    dag = diamond()
    with dagron.LocalCluster(n_workers=2) as cluster:
        result = DAGExecutor(dag, backend=cluster, enable_tracing=True).execute(
            dict.fromkeys(dag.node_names(), where)
        )
    assert result.ok
    doc = check_invariants(result)
    trace = result.trace
    assert trace is not None and trace.slots == 2
    host = os.uname().nodename
    workers = {r.worker for r in result.node_results.values()}
    assert all(w is not None and w.startswith(f"{host}/w") for w in workers)
    procs, threads = lane_names(doc)
    bars = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "node"]
    assert {threads[e["pid"], e["tid"]] for e in bars} == {(w or "").split("/")[1] for w in workers}
    assert {procs[e["pid"]] for e in bars} == {host}
    # the work really ran in other processes
    assert os.getpid() not in {r.result for r in result.node_results.values()}
    # measured for every worker that ran something; one machine, one clock: no offset beyond
    # what a round trip can tell apart from 0
    assert set(trace.clock_offsets) == workers
    assert all(o.measured and abs(o.offset) <= o.error for o in trace.clock_offsets.values())
    assert wait_for_no_workers() == [], "worker processes outlived the cluster"


def test_tracing_result_with_trace_pickles_and_saves(tmp_path: Path) -> None:
    result = DAGExecutor(diamond(), enable_tracing=True).execute(
        dict.fromkeys("abcde", lambda: None)
    )
    back = pickle.loads(pickle.dumps(result))
    assert back.trace == result.trace
    assert result.trace is not None
    path = result.trace.save(tmp_path / "run.trace.json")
    assert json.loads(path.read_text()) == result.trace.to_chrome_trace()


# -- hand-built traces ---------------------------------------------------------------------


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


def test_trace_overlapping_attempts_on_one_worker_are_packed_into_sub_lanes() -> None:
    results = {
        "a": done("a", 10.0, 14.0, "h/1/loop"),
        "b": done("b", 11.0, 12.0, "h/1/loop"),
        "c": done("c", 12.5, 13.0, "h/1/loop"),  # fits after b on the second row
        "d": done("d", 14.0, 15.0, "h/1/loop"),  # starts when a ends: first row again
    }
    trace = Trace.from_results(results, [], started_at=10.0, finished_at=15.0)
    lanes = trace.lanes()
    assert [[a.node for a in lane.attempts] for lane in lanes] == [["a", "d"], ["b", "c"]]
    doc = chrome(trace)
    bars = {e["name"]: e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "node"}
    assert bars["a"]["tid"] == bars["d"]["tid"] != bars["b"]["tid"] == bars["c"]["tid"]
    assert bars["a"]["pid"] == 1  # the real pid from "h/1/loop"
    assert bars["b"]["ts"] == 1e6 and bars["b"]["dur"] == 1e6


def test_trace_lanes_are_grouped_by_host_in_natural_order() -> None:
    results = {
        "a": done("a", 0.0, 1.0, "h2/w10"),
        "b": done("b", 0.0, 1.0, "h2/w2"),
        "c": done("c", 0.0, 1.0, "h1/w1"),
    }
    trace = Trace.from_results(results, [], started_at=0.0, finished_at=1.0, coordinator="h1/99")
    assert [lane.label for lane in trace.lanes()] == ["h1/w1", "h2/w2", "h2/w10"]
    assert trace.workers == ["h1/w1", "h2/w2", "h2/w10"]
    procs, threads = lane_names(chrome(trace))
    assert sorted(procs.values()) == ["h1", "h1 (pid 99)", "h2"]
    assert sorted(threads.values()) == ["dagron scheduler", "w1", "w10", "w2"]


def test_trace_aligns_a_remote_host_whose_clock_runs_ahead() -> None:
    # The coordinator (host "here") sent "a" at t=0.1 and heard back at t=1.2 (seconds since
    # the run began at 100.0); host "far" stamped it 105.3 to 106.1: 5 s ahead at least.
    results = {
        "a": done("a", 105.3, 106.1, "far/w1"),
        "b": done("b", 100.3, 100.9, "here/w1"),
    }
    events = [
        TraceEvent(0.1, "a", "start"),
        TraceEvent(0.2, "b", "start"),
        TraceEvent(1.0, "b", "complete"),
        TraceEvent(1.2, "a", "complete"),
    ]
    trace = Trace.from_results(
        results, [], started_at=100.0, finished_at=101.5, events=events, coordinator="here/7"
    )
    (far,) = trace.clock_offsets.items()
    assert far[0] == "far" and not far[1].measured
    assert far[1].offset == pytest.approx(106.1 - 101.2)
    assert far[1].error == pytest.approx((105.3 - 100.1) - (106.1 - 101.2))
    (a,) = trace.attempts_of("a")
    assert 100.1 <= a.started_at and a.finished_at == pytest.approx(101.2)
    assert a.duration == pytest.approx(0.8)
    assert trace.attempts_of("b")[0].started_at == 100.3  # the coordinator's host is not moved
    assert results["a"].started_at == 105.3  # NodeResults are never changed
    consistent = Trace.from_results(
        {"a": done("a", 100.2, 101.1, "far/w1")},
        [],
        started_at=100.0,
        events=[TraceEvent(0.1, "a", "start"), TraceEvent(1.2, "a", "complete")],
        coordinator="here/7",
    )
    assert consistent.clock_offsets == {}


def test_trace_measured_offsets_are_reported_and_replace_the_inferred_shift() -> None:
    # "far/w1" was measured (its stamps are already on the coordinator's clock), so the
    # trace reports that and leaves its stamps alone, even ones a late report makes look
    # impossible; "far/w2" was not measured and is shifted as before. Offsets of workers
    # that ran nothing in this run are not reported.
    results = {
        "a": done("a", 100.30, 101.25, "far/w1"),
        "b": done("b", 105.3, 106.1, "far/w2"),
    }
    events = [
        TraceEvent(0.1, "a", "start"),
        TraceEvent(0.2, "b", "start"),
        TraceEvent(1.2, "a", "complete"),
        TraceEvent(1.3, "b", "complete"),
    ]
    measured = {"far/w1": ClockOffset(37.0, 0.001), "gone/w9": ClockOffset(1.0, 0.1)}
    trace = Trace.from_results(
        results,
        [],
        started_at=100.0,
        finished_at=101.5,
        events=events,
        coordinator="here/7",
        clock_offsets=measured,
    )
    assert trace.clock_offsets["far/w1"] == ClockOffset(37.0, 0.001, measured=True)
    assert trace.clock_offsets["far"].offset == pytest.approx(106.1 - 101.3)
    assert not trace.clock_offsets["far"].measured and "gone/w9" not in trace.clock_offsets
    assert trace.attempts_of("a")[0].started_at == 100.30
    assert trace.attempts_of("b")[0].finished_at == pytest.approx(101.3)
    other = chrome(trace)["otherData"]["clock_offsets"]
    assert other["far/w1"] == {"offset": 37.0, "error": 0.001, "measured": True}


def test_trace_from_results_defaults_and_skipped_nodes() -> None:
    results = {
        "a": done("a", 3.0, 4.0, "h/w1"),
        "b": NodeResult("b", NodeStatus.SKIPPED),
    }
    trace = Trace.from_results(results, [("a", "b")])
    assert (trace.started_at, trace.finished_at, trace.duration) == (3.0, 4.0, 1.0)
    assert trace.statuses == {"a": NodeStatus.COMPLETED, "b": NodeStatus.SKIPPED}
    assert [a.node for a in trace.attempts] == ["a"]
    skip = [e for e in chrome(trace)["traceEvents"] if e["ph"] == "i"]
    assert [(e["cat"], e["ts"]) for e in skip] == [("skip", 1e6)]  # at the run's end
    assert repr(trace).startswith("<Trace: 2 nodes, 1 attempts on 1 workers")


def test_trace_attempt_of_earlier_tries() -> None:
    failed = NodeResult(
        "x",
        NodeStatus.FAILED,
        error=OSError("disk"),
        duration_seconds=1.0,
        started_at=0.0,
        finished_at=1.0,
        attempts=1,
        worker="h/w1",
    )
    trace = Trace.from_results(
        {"x": done("x", 2.0, 3.0, "h/w2", attempts=2)}, [], earlier_attempts=[failed]
    )
    assert trace.attempts == [
        Attempt("x", 1, NodeStatus.FAILED, 0.0, 1.0, 1.0, "h/w1", "OSError: disk"),
        Attempt("x", 2, NodeStatus.COMPLETED, 2.0, 3.0, 1.0, "h/w2", None),
    ]
    doc = chrome(trace)
    assert instants(doc) == {("retry", "x")}


def test_tracing_module_doctests() -> None:
    import dagron.tracing

    assert doctest.testmod(dagron.tracing).failed == 0
