"""profile_trace: the profile's numbers from any trace-shaped data."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field

from dagron.node_result import Attempt, NodeStatus
from dagron.trace_profile import format_seconds, profile_trace
from dagron.tracing import Trace


@dataclass
class Chain:
    """Not a Trace: a -> b, 1 s then 2 s on one worker, over a 4 s run."""

    started_at: float = 10.0
    finished_at: float = 14.0
    nodes: list[str] = field(default_factory=lambda: ["a", "b"])
    edges: list[tuple[str, str]] = field(default_factory=lambda: [("a", "b")])
    attempts: list[Attempt] = field(
        default_factory=lambda: [
            Attempt("a", 1, NodeStatus.COMPLETED, 10.0, 11.0, 1.0, "h/w1"),
            Attempt("b", 1, NodeStatus.COMPLETED, 12.0, 14.0, 2.0, "h/w1"),
        ]
    )
    slots: int | None = None

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at


def test_profile_trace_reads_any_trace_data() -> None:
    p = profile_trace(Chain())
    assert p.critical_path == ["a", "b"] and p.critical_path_seconds == 3.0
    assert p.makespan == 4.0 and p.busy_seconds == 3.0 and p.n_workers == 1
    assert p.waits == {"a": 0.0, "b": 1.0}


def test_profile_trace_of_a_trace_is_its_profile_method() -> None:
    data = Chain()
    trace = Trace(
        started_at=data.started_at,
        finished_at=data.finished_at,
        nodes=data.nodes,
        edges=data.edges,
        statuses=dict.fromkeys(data.nodes, NodeStatus.COMPLETED),
        attempts=data.attempts,
    )
    assert trace.profile(workers=2) == profile_trace(data, workers=2)
    assert trace.profile(workers=2).parallel_efficiency == 3.0 / (2 * 4.0)


def test_format_seconds_picks_a_unit() -> None:
    assert [format_seconds(s) for s in (0.0, 2.5, 0.25, 2.5e-5)] == [
        "0.000 s",
        "2.500 s",
        "250.0 ms",
        "25 us",
    ]


def test_trace_profile_module_doctests() -> None:
    import dagron.trace_profile

    assert doctest.testmod(dagron.trace_profile).failed == 0
