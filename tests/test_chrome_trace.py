"""chrome_trace: any trace-shaped data in Chrome's Trace Event Format."""

from __future__ import annotations

import doctest
import json
from dataclasses import dataclass, field
from pathlib import Path

import dagron.chrome_trace
from dagron._clock import ClockOffset
from dagron.chrome_trace import SCHEDULER_THREAD, chrome_pids, chrome_trace, save_chrome_trace
from dagron.node_result import Attempt, NodeStatus, TraceEvent


@dataclass
class Run:
    """Not a Trace: "a" failed then passed on h/w1, "b" timed out nowhere known, "c" skipped."""

    started_at: float = 10.0
    finished_at: float = 14.0
    nodes: list[str] = field(default_factory=lambda: ["a", "b", "c"])
    edges: list[tuple[str, str]] = field(default_factory=lambda: [("a", "c")])
    attempts: list[Attempt] = field(
        default_factory=lambda: [
            Attempt("a", 1, NodeStatus.FAILED, 10.0, 11.0, 1.0, "h/w1", "ValueError: x"),
            Attempt("a", 2, NodeStatus.COMPLETED, 11.0, 12.0, 1.0, "h/w1"),
            Attempt("b", 1, NodeStatus.TIMED_OUT, 10.5, 13.0, 2.5, None),
        ]
    )
    slots: int | None = None
    statuses: dict[str, NodeStatus] = field(
        default_factory=lambda: {
            "a": NodeStatus.COMPLETED,
            "b": NodeStatus.TIMED_OUT,
            "c": NodeStatus.SKIPPED,
        }
    )
    events: list[TraceEvent] = field(default_factory=lambda: [TraceEvent(3.5, "c", "skip")])
    coordinator: str = "h/4321"
    clock_offsets: dict[str, ClockOffset] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at


def test_chrome_trace_reads_any_trace_data() -> None:
    doc = chrome_trace(Run())
    events = doc["traceEvents"]
    lanes = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert sorted(lanes.values()) == sorted([SCHEDULER_THREAD, "w1", "(worker unknown)"])
    spans = [(e["name"], e["ts"], e["dur"]) for e in events if e["ph"] == "X"]
    assert spans == [
        ("a", 0.0, 1e6),
        ("a", 1e6, 1e6),
        ("b", 5e5, 2.5e6),
        ("run", 0.0, 4e6),
    ]
    instants = {(e["name"], e["ts"]) for e in events if e["ph"] == "i"}
    assert instants == {("retry a", 1e6), ("timeout b", 3e6), ("skip c", 3.5e6)}
    assert doc["otherData"]["coordinator"] == "h/4321"


def test_chrome_trace_puts_unknown_workers_in_the_coordinators_process() -> None:
    events = chrome_trace(Run())["traceEvents"]
    (b,) = [e for e in events if e["name"] == "b"]
    assert b["pid"] == 4321 and b["cname"] == "bad"


def test_save_chrome_trace_writes_compact_json(tmp_path: Path) -> None:
    out = save_chrome_trace(Run(), tmp_path / "run.json")
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == chrome_trace(Run()) and ", " not in text


def test_chrome_pids_never_reuse_a_real_pid() -> None:
    assert chrome_pids(["h/2", "far", "near"]) == {"h/2": 2, "far": 1, "near": 3}


def test_chrome_trace_module_doctests() -> None:
    assert doctest.testmod(dagron.chrome_trace).failed == 0
