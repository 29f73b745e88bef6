"""pack_lanes: one row per worker, split where its attempts overlap."""

from __future__ import annotations

import doctest

import dagron.trace_lanes
from dagron.node_result import Attempt, NodeStatus
from dagron.trace_lanes import UNKNOWN_WORKER, Lane, pack_lanes, split_worker


def at(node: str, start: float, end: float, worker: str | None) -> Attempt:
    return Attempt(node, 1, NodeStatus.COMPLETED, start, end, end - start, worker)


def test_pack_lanes_orders_workers_naturally_with_unknown_last() -> None:
    lanes = pack_lanes(
        [at("a", 0, 1, None), at("b", 0, 1, "h/w10"), at("c", 0, 1, "h/w2"), at("d", 0, 1, "g/w9")]
    )
    assert [lane.worker for lane in lanes] == ["g/w9", "h/w2", "h/w10", None]
    assert lanes[-1].thread == UNKNOWN_WORKER and lanes[-1].label == UNKNOWN_WORKER


def test_pack_lanes_puts_overlapping_attempts_on_sub_lanes() -> None:
    lanes = pack_lanes([at("a", 0, 2, "h/w1"), at("b", 1, 3, "h/w1"), at("c", 2, 4, "h/w1")])
    assert [(lane.sub, [a.node for a in lane.attempts]) for lane in lanes] == [
        (0, ["a", "c"]),
        (1, ["b"]),
    ]
    assert [lane.label for lane in lanes] == ["h/w1", "h/w1 #2"]


def test_split_worker_without_a_slash_is_all_thread() -> None:
    assert split_worker("w1") == ("", "w1")
    assert Lane("w1", "", "w1", 0, ()).label == "w1"


def test_trace_lanes_module_doctests() -> None:
    assert doctest.testmod(dagron.trace_lanes).failed == 0
