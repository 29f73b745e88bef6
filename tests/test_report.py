"""build_report: per-node results assembled into the run's ExecutionResult."""

from __future__ import annotations

import dagron
from dagron._report import build_report
from dagron.result import NodeResult, NodeStatus


def test_build_report_follows_order_and_fills_in_pending() -> None:
    dag = dagron.DAG()
    dag.add_nodes(["b", "a"])
    done = NodeResult("b", NodeStatus.COMPLETED, 1)
    r = build_report(["b", "a"], [done, None], ["a", "b"], 0.25, dag, None, [])
    assert list(r.node_results) == ["a", "b"]
    assert r["a"].status is NodeStatus.PENDING and r["b"] is done
    assert r.total_duration_seconds == 0.25 and r.trace is None
