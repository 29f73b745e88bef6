"""dagron's own events on the "dagron" logger: node start/finish at DEBUG, failures at WARNING."""

from __future__ import annotations

import logging

import pytest

from dagron import DAG, DAGExecutor


def dag() -> DAG:
    return (
        DAG.builder()
        .add_nodes(["extract", "transform", "load", "audit"])
        .add_edges([("extract", "transform"), ("transform", "load")])
        .build()
    )


def bad() -> None:
    raise ValueError("quality check failed")


TASKS = {"extract": lambda: 1, "transform": bad, "load": lambda: 3, "audit": lambda: 4}


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "dagron"]


def test_logging_failures_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dagron"):
        DAGExecutor(dag(), max_workers=1, fail_fast=False).execute(TASKS)
    (record,) = messages(caplog)
    level, text = record
    assert level == logging.WARNING
    assert text.startswith("dagron: node 'transform' failed after 1 attempt(s) on ")
    assert text.endswith(": ValueError: quality check failed")


def test_logging_node_events_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dagron"):
        DAGExecutor(dag(), max_workers=1, fail_fast=False).execute(TASKS)
    got = messages(caplog)
    texts = [t for _, t in got]
    assert "dagron: node 'extract' started (attempt 1)" in texts
    assert any(t.startswith("dagron: node 'extract' completed in ") for t in texts)
    assert "dagron: node 'load' skipped" in texts
    assert {level for level, t in got if "started" in t or "completed" in t} == {logging.DEBUG}
    # one line per event: three starts (load never starts), two completions
    assert sum("started" in t for t in texts) == 3
    assert sum("completed in" in t for t in texts) == 2


def test_logging_retries_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("try again")
        return "ok"

    one = DAG.builder().add_node("fetch").build()
    with caplog.at_level(logging.INFO, logger="dagron"):
        result = DAGExecutor(one, retries=1).execute({"fetch": flaky})
    assert result.ok
    retry = "dagron: node 'fetch' attempt 1 failed; retrying: ConnectionError: try again"
    assert messages(caplog) == [(logging.INFO, retry)]


def test_logging_nothing_at_debug_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dagron"):
        DAGExecutor(dag(), max_workers=1).execute({**TASKS, "transform": lambda: 2})
    assert messages(caplog) == []
