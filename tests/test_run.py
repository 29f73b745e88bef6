"""RunState, the loop's decisions, driven by plain calls: no threads, no backend, no clock
except where a test passes its own ``now``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import pytest

import dagron
from dagron._run import DebugRunState, RunState, per_node
from dagron.backends.base import Failed, Succeeded
from dagron.callbacks import ExecutionCallbacks
from dagron.result import NodeStatus


def state_for(
    nodes: list[str],
    edges: Sequence[tuple[str, str]] = (),
    **options: Any,
) -> RunState:
    dag = dagron.DAG()
    dag.add_nodes(nodes)
    dag.add_edges(list(edges))
    settings: dict[str, Any] = {
        "fail_fast": True,
        "timeouts": None,
        "retries": None,
        "retry_delay": 0.0,
        "callbacks": None,
        "pass_results": False,
    }
    settings.update(options)
    return RunState(dag, dag.node_names(), [lambda: None] * len(nodes), **settings)


def ok(state: RunState, key: int, value: Any = None) -> None:
    state.absorb([Succeeded(key, value, 1.0, 2.0, 1.0, "w")])


def fail(state: RunState, key: int) -> None:
    state.absorb([Failed(key, ValueError("x"), "tb", 1.0, 2.0, 1.0, "w")])


def statuses(state: RunState) -> dict[str, str]:
    result = state.finish(state.names, 0.0)
    return {n: r.status.name for n, r in result.node_results.items()}


def test_run_keys_encode_node_and_attempt() -> None:
    s = state_for(["a", "b"], retries=[3, 3])
    (a, b) = s.ready.pop(2)
    assert (s.start(a), s.start(b)) == (0, 1)
    fail(s, 0)
    assert s.ready.pop(2) == [0]
    assert s.start(0) == 2  # node 0, attempt 2
    assert s.attempts == [2, 1] and s.inflight == 2


def test_run_stale_completion_is_ignored() -> None:
    s = state_for(["a"], timeouts=[0.5])
    key = s.start(s.ready.pop(1)[0])
    assert s.expire(time.monotonic() + 10) == [key]
    ok(s, key, "late")  # the abandoned attempt reports after all
    assert statuses(s) == {"a": "TIMED_OUT"} and s.inflight == 0 and s.idle


def test_run_failure_skips_descendants_and_fail_fast_the_rest() -> None:
    s = state_for(["a", "b", "c"], [("a", "b")])
    ka, kc = (s.start(i) for i in s.ready.pop(2))
    fail(s, ka)
    assert statuses(s)["b"] == "SKIPPED" and s.stopping
    ok(s, kc)  # running nodes still finish
    assert statuses(s) == {"a": "FAILED", "b": "SKIPPED", "c": "COMPLETED"}


def test_run_unreached_deadline_is_pruned() -> None:
    s = state_for(["a"], timeouts=[1000.0])
    key = s.start(s.ready.pop(1)[0])
    assert s.next_wakeup() is not None
    ok(s, key)
    assert s.next_wakeup() is None and s.idle


def test_run_prefetch_arms_timeouts_at_the_started_notice() -> None:
    s = state_for(["a", "b"], timeouts=[1.0, 1.0])
    s.use_prefetch()
    ka, kb = (s.start(i) for i in s.ready.pop(2))
    assert s.next_wakeup() is None  # queued, not begun: no clock running yet
    s.started(ka)
    assert s.expire(time.monotonic() + 5) == [ka]  # only the one that began
    assert statuses(s) == {"a": "TIMED_OUT", "b": "SKIPPED"}  # fail-fast recalled b
    assert s.to_cancel == [kb]


def test_run_prefetch_fail_fast_recalls_calls_not_begun() -> None:
    events: list[tuple[str, str]] = []
    cb = ExecutionCallbacks(
        on_failure=lambda n, e: events.append(("failure", n)),
        on_skip=lambda n: events.append(("skip", n)),
    )
    s = state_for(["boom", "x", "y", "z"], callbacks=cb)
    s.use_prefetch()
    kboom, kx, ky, kz = (s.start(i) for i in s.ready.pop(4))
    s.started(kboom)
    s.started(kx)
    fail(s, kboom)
    assert s.to_cancel == [ky, kz]  # the driver cancels these on its backend
    assert events == [("failure", "boom"), ("skip", "y"), ("skip", "z")]
    assert s.inflight == 1  # x began: it is left to finish
    ok(s, kx)
    assert statuses(s) == {"boom": "FAILED", "x": "COMPLETED", "y": "SKIPPED", "z": "SKIPPED"}
    assert s.idle


def test_run_prefetch_without_notices_asks_withdraw_about_every_call() -> None:
    s = state_for(["boom", "x", "y"])
    began: set[int] = set()
    asked: list[int] = []

    def withdraw(key: int) -> bool:
        asked.append(key)
        return key not in began

    s.use_prefetch(withdraw, notices=False)
    kboom, kx, ky = (s.start(i) for i in s.ready.pop(3))
    began.update((kboom, kx))  # x began on a worker; nothing told the loop
    fail(s, kboom)
    assert asked == [kx, ky] and s.to_cancel == []
    assert s.inflight == 1  # x is left to finish
    ok(s, kx)
    assert statuses(s) == {"boom": "FAILED", "x": "COMPLETED", "y": "SKIPPED"}


def test_run_prefetch_without_notices_refuses_runs_that_need_them() -> None:
    s = state_for(["a"], timeouts=[1.0])
    with pytest.raises(ValueError, match="started notices"):
        s.use_prefetch(lambda key: True, notices=False)
    with pytest.raises(ValueError, match="started notices"):
        state_for(["a"]).use_prefetch(None, notices=False)


def test_run_start_many_matches_start_one_by_one() -> None:
    one, many = state_for(["a", "b", "c"]), state_for(["a", "b", "c"])
    one_keys = [one.start(i) for i in one.ready.pop(3)]
    assert many.start_many(many.ready.pop(3)) == one_keys
    assert (many.attempts, many.current, many.inflight) == (one.attempts, one.current, 3)
    timed = state_for(["a"], timeouts=[5.0])  # timeouts take the one-by-one path
    assert timed.start_many(timed.ready.pop(1)) == [0] and timed.next_wakeup() is not None


def test_run_delayed_retry_is_requeued_when_due() -> None:
    s = state_for(["a"], retries=[1], retry_delay=30.0)
    key = s.start(s.ready.pop(1)[0])
    fail(s, key)
    assert s.ready.pop(1) == [] and not s.idle
    due = s.next_wakeup()
    assert due is not None
    s.release_due(due)
    assert s.ready.pop(1) == [0]


def test_run_cancel_marks_every_unfinished_node() -> None:
    s = state_for(["a", "b", "c"], [("a", "b")])
    ka, kc = (s.start(i) for i in s.ready.pop(2))
    ok(s, kc)
    assert sorted(s.cancel()) == [ka]
    assert statuses(s) == {"a": "CANCELLED", "b": "CANCELLED", "c": "COMPLETED"}
    assert s.finish(["a", "b", "c"], 0.0)["a"].attempts == 1


def test_run_pass_results_args() -> None:
    s = state_for(["a", "b", "c"], [("a", "c"), ("b", "c")], pass_results=True)
    assert s.args(0) == ({},)
    ka, kb = (s.start(i) for i in s.ready.pop(2))
    ok(s, ka, 1)
    ok(s, kb, 2)
    assert s.args(2) == ({"a": 1, "b": 2},)


def test_per_node_most_specific_wins() -> None:
    names, own = ["a", "b", "c"], [None, 5.0, 7.0]
    assert per_node(None, names, [None] * 3, None) is None
    assert per_node(2.0, names, own, None) == [2.0, 5.0, 7.0]
    assert per_node({"c": 1.0}, names, own, None) == [None, 5.0, 1.0]
    assert per_node(0, names, [None, 2, None], 0) == [0, 2, 0]


def test_run_result_status_enum_only_terminal() -> None:
    s = state_for(["a"])
    ok(s, s.start(s.ready.pop(1)[0]), 3)
    r = s.finish(["a"], 0.5)
    assert r["a"].status is NodeStatus.COMPLETED and r.total_duration_seconds == 0.5


def test_run_debug_logging_picks_the_logging_state(caplog: pytest.LogCaptureFixture) -> None:
    assert type(state_for(["a"])) is RunState
    with caplog.at_level(logging.DEBUG, logger="dagron"):
        s = state_for(["a", "b"])
        assert isinstance(s, DebugRunState)
        assert s.start_many(s.ready.pop(2)) == [0, 1]
    started = [r.getMessage() for r in caplog.records if "started" in r.getMessage()]
    assert started == [
        "dagron: node 'a' started (attempt 1)",
        "dagron: node 'b' started (attempt 1)",
    ]
