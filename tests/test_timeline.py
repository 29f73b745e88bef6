"""result.timeline(): a self-contained HTML Gantt chart that parses, one bar per attempt."""

from __future__ import annotations

import doctest
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest

from dagron import DAG, DAGExecutor, ExecutionResult, NodeResult, NodeStatus, Trace
from dagron.timeline import COLOURS, render_timeline

EVIL = '<script>alert("x")</script> & co'


class Chart(HTMLParser):
    """Collects the bars (with their hover titles), row labels and anything fetched."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.bars: list[dict[str, Optional[str]]] = []
        self.titles: list[str] = []
        self.fetches: list[str] = []
        self.scripts = 0
        self.in_title_of_bar = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        if tag not in ("line", "meta"):  # void or self-closed in this page
            self.stack.append(tag)
        if tag == "rect" and (a.get("class") or "").startswith("bar "):
            self.bars.append(a)
        if tag == "title" and len(self.stack) >= 2 and self.stack[-2] == "rect":
            self.in_title_of_bar = True
            self.titles.append("")
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key):
                self.fetches.append(a[key] or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        if tag == "rect" and (a.get("class") or "").startswith("bar "):
            self.bars.append(a)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()
        if tag == "title":
            self.in_title_of_bar = False

    def handle_data(self, data: str) -> None:
        if self.in_title_of_bar:
            self.titles[-1] += data


def parse(html: str) -> Chart:
    chart = Chart()
    chart.feed(html)
    chart.close()
    assert chart.stack == [], "unclosed elements"
    return chart


def test_timeline_has_one_bar_per_executed_node(tmp_path: Path) -> None:
    barrier = threading.Barrier(2, timeout=10)
    dag = (
        DAG.builder()
        .add_nodes(["a", "b", "c", "d", "skipped"])
        .add_edges([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "skipped")])
        .build()
    )
    tasks = {
        "a": lambda: 1,
        "b": barrier.wait,
        "c": barrier.wait,
        "d": lambda: 1 / 0,
        "skipped": lambda: None,
    }
    result = DAGExecutor(dag, max_workers=2, enable_tracing=True).execute(tasks)
    path = result.timeline(tmp_path / "run.html", title="my run")
    assert path == tmp_path / "run.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    chart = parse(html)
    executed = [n for n, r in result.node_results.items() if r.attempts > 0]
    assert executed == ["a", "b", "c", "d"]
    assert sorted(bar["data-node"] or "" for bar in chart.bars) == executed
    statuses = {bar["data-node"]: bar["class"] for bar in chart.bars}
    assert statuses["d"] == "bar failed" or statuses["d"] == "bar failed critical"
    assert {bar["data-node"]: bar["fill"] for bar in chart.bars}["d"] == COLOURS[NodeStatus.FAILED]
    # hover text names the node, its worker and its times
    for bar, title in zip(chart.bars, chart.titles):
        node = bar["data-node"] or ""
        assert title.splitlines()[0] == node
        assert f"on {result[node].worker}" in title and "start +" in title
    # self-contained: no scripts, nothing to fetch
    assert chart.scripts == 0 and chart.fetches == []
    assert "my run" in html and "<svg" in html


def test_timeline_highlights_the_critical_path() -> None:
    results = {
        "a": NodeResult("a", NodeStatus.COMPLETED, None, None, None, 1.0, 0.0, 1.0, 1, "h/w1"),
        "b": NodeResult("b", NodeStatus.COMPLETED, None, None, None, 3.0, 1.0, 4.0, 1, "h/w1"),
        "c": NodeResult("c", NodeStatus.COMPLETED, None, None, None, 1.0, 1.0, 2.0, 1, "h/w2"),
    }
    trace = Trace.from_results(results, [("a", "b"), ("a", "c")], started_at=0.0)
    chart = parse(render_timeline(trace))
    critical = {b["data-node"] for b in chart.bars if "critical" in (b["class"] or "")}
    assert critical == {"a", "b"}
    assert len(chart.bars) == 3


def test_timeline_escapes_node_names() -> None:
    results = {
        EVIL: NodeResult(EVIL, NodeStatus.COMPLETED, None, None, None, 1.0, 0.0, 1.0, 1, "h/w1")
    }
    html = render_timeline(Trace.from_results(results, []))
    assert "<script>" not in html
    chart = parse(html)
    assert chart.scripts == 0
    assert [b["data-node"] for b in chart.bars] == [EVIL]
    assert chart.titles[0].splitlines()[0] == EVIL


def test_timeline_one_bar_per_attempt_with_retries(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("again")
        return "ok"

    dag = DAG.builder().add_node("fetch").build()
    result = DAGExecutor(dag, retries=3, enable_tracing=True).execute({"fetch": flaky})
    chart = parse(result.timeline(tmp_path / "t.html").read_text())
    classes = [b["class"] for b in chart.bars]
    assert classes == ["bar failed", "bar failed", "bar completed critical"]


def test_timeline_without_trace_needs_dag(tmp_path: Path) -> None:
    dag = DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").build()
    result = DAGExecutor(dag).execute({"a": lambda: 1, "b": lambda: 2})
    with pytest.raises(ValueError, match="enable_tracing"):
        result.timeline(tmp_path / "x.html")
    chart = parse(result.timeline(tmp_path / "x.html", dag=dag).read_text())
    assert len(chart.bars) == 2


def test_timeline_of_an_empty_run() -> None:
    result = DAGExecutor(DAG(), enable_tracing=True).execute({})
    assert isinstance(result, ExecutionResult)
    chart = parse(render_timeline(result))
    assert chart.bars == []


def test_timeline_module_doctests() -> None:
    import dagron.timeline

    assert doctest.testmod(dagron.timeline).failed == 0
    assert dagron.timeline.__all__ == ["render_timeline", "write_timeline"]
