"""A run as a picture: a self-contained HTML page with an SVG Gantt chart.

``result.timeline("run.html")`` draws one row per worker and one bar per attempt, coloured by
status, with the critical path outlined; hovering a bar shows the node, its worker and its
times. The page has no scripts and loads nothing from the network.
"""

from __future__ import annotations

import math
import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Union

from .node_result import Attempt, NodeStatus
from .profiling import trace_of
from .trace_lanes import Lane
from .trace_profile import Profile, format_seconds, profile_trace
from .tracing import Trace

if TYPE_CHECKING:
    from ._core import DAG
    from .result import ExecutionResult

__all__ = ["render_timeline", "write_timeline"]

COLOURS = {
    NodeStatus.COMPLETED: "#4c9f70",
    NodeStatus.FAILED: "#d64545",
    NodeStatus.TIMED_OUT: "#e8912d",
    NodeStatus.CANCELLED: "#9a9a9a",
}
CRITICAL_STROKE = "#1b2a6b"

_WIDTH = 1200  # px of the whole chart
_LABEL = 240  # px for worker names on the left
_PAD = 16
_AXIS = 28  # px above the first row
_ROW = 24
_BAR = 16

_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; }
p.summary { margin: 0 0 12px; color: #444; }
svg .bar:hover { opacity: 0.75; }
svg .label { pointer-events: none; }
ul.legend { list-style: none; padding: 0; margin: 8px 0; display: flex; gap: 16px; }
ul.legend span { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: -1px; }
pre { background: #f4f5f7; padding: 8px; overflow-x: auto; }
"""


def write_timeline(
    run: Union[ExecutionResult, Trace],
    path: Union[str, os.PathLike[str]],
    *,
    dag: DAG | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`render_timeline` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(render_timeline(run, dag=dag, title=title), encoding="utf-8")
    return out


def render_timeline(
    run: Union[ExecutionResult, Trace],
    *,
    dag: DAG | None = None,
    title: str | None = None,
) -> str:
    """The HTML page of a run's Gantt chart.

    >>> import dagron
    >>> dag = dagron.DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").build()
    >>> result = dagron.DAGExecutor(dag, enable_tracing=True).execute(
    ...     {"a": lambda: 1, "b": lambda: 2})
    >>> render_timeline(result).count('class="bar ')
    2
    """
    trace = trace_of(run, dag)
    prof = profile_trace(trace)
    lanes = trace.lanes()
    layout = _Layout.of(trace, len(lanes))
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{layout.height}" '
        f'viewBox="0 0 {_WIDTH} {layout.height}" role="img" aria-label="Gantt chart of the run" '
        'font-family="system-ui, sans-serif" font-size="11">',
        *_ticks(layout),
        *_lane_rows(lanes, layout, _critical_attempts(trace, prof)),
        "</svg>",
    ]
    heading = title if title is not None else "dagron run"
    return _page(heading, _headline(prof, trace), "".join(svg), prof.summary())


class _Layout(NamedTuple):
    """Where times go on the chart: ``t0`` the run's start (the axis's 0), ``lo``..``t1`` the
    span drawn (stamps can fall outside the run), ``scale`` px per second."""

    t0: float
    lo: float
    t1: float
    scale: float
    height: int

    @classmethod
    def of(cls, trace: Trace, n_lanes: int) -> _Layout:
        t0 = trace.started_at
        t1 = max([trace.finished_at, *(a.finished_at for a in trace.attempts)])
        lo = min([t0, *(a.started_at for a in trace.attempts)])
        chart = _WIDTH - _LABEL - 2 * _PAD
        scale = chart / max(t1 - lo, 1e-9)
        height = _AXIS + max(1, n_lanes) * _ROW + _PAD
        return cls(t0, lo, t1, scale, height)

    def x(self, t: float) -> float:
        """The px position of time ``t``."""
        return _LABEL + _PAD + (t - self.lo) * self.scale


def _critical_attempts(trace: Trace, prof: Profile) -> set[tuple[str, int]]:
    """(node, attempt) of the last try of every node on the critical path."""
    critical = set(prof.critical_path)
    last_try: dict[str, int] = {}
    for a in trace.attempts:
        last_try[a.node] = max(last_try.get(a.node, 0), a.attempt)
    return {(node, n) for node, n in last_try.items() if node in critical}


def _ticks(layout: _Layout) -> list[str]:
    """The time axis: a labelled line every round step from the run's start."""
    t0, t1, height = layout.t0, layout.t1, layout.height
    step = _tick_step(t1 - layout.lo)
    k = math.ceil((layout.lo - t0) / step)
    out: list[str] = []
    while t0 + k * step <= t1 + 1e-12:
        tx = layout.x(t0 + k * step)
        out.append(
            f'<line class="tick" x1="{tx:.2f}" y1="{_AXIS - 6}" x2="{tx:.2f}" '
            f'y2="{height - _PAD}" stroke="#d0d3d9"/>'
            f'<text x="{tx:.2f}" y="{_AXIS - 10}" text-anchor="middle">'
            f"{escape(format_seconds(k * step) if k else '0')}</text>"
        )
        k += 1
    return out


def _lane_rows(lanes: list[Lane], layout: _Layout, critical: set[tuple[str, int]]) -> list[str]:
    """Per lane, its background and label, then a bar (and its label) per attempt."""
    out: list[str] = []
    for row, lane in enumerate(lanes):
        y = _AXIS + row * _ROW
        label = lane.label
        shown = label if len(label) <= 36 else "\u2026" + label[-35:]
        out.append(
            f'<rect class="lane-bg" x="{_LABEL}" y="{y}" width="{_WIDTH - _LABEL}" '
            f'height="{_ROW - 2}" fill="#f0f1f4"/>'
            f'<text x="{_LABEL - 6}" y="{y + _ROW / 2 + 3:.1f}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(shown)}</text>"
        )
        for a in lane.attempts:
            out.extend(_bar(a, y, layout, (a.node, a.attempt) in critical))
    return out


def _bar(a: Attempt, y: int, layout: _Layout, critical: bool) -> list[str]:
    """An attempt's bar, with its details as a tooltip and its node's name if it fits."""
    t0 = layout.t0
    bx = layout.x(a.started_at)
    bw = max(1.0, (a.finished_at - a.started_at) * layout.scale)
    classes = f"bar {a.status.value}"
    outline = ""
    if critical:
        classes += " critical"
        outline = f' stroke="{CRITICAL_STROKE}" stroke-width="2.5"'
    tip = [
        a.node,
        f"{a.status.value}, attempt {a.attempt}",
        f"on {a.worker if a.worker is not None else 'an unknown worker'}",
        f"start +{format_seconds(a.started_at - t0)}, end +{format_seconds(a.finished_at - t0)}",
        f"took {format_seconds(a.duration)}",
    ]
    if a.error:
        tip.append(a.error)
    by = y + (_ROW - 2 - _BAR) / 2
    out = [
        f'<rect class="{classes}" x="{bx:.2f}" y="{by:.1f}" width="{bw:.2f}" '
        f'height="{_BAR}" rx="2" fill="{COLOURS.get(a.status, "#777")}"{outline} '
        f'data-node="{escape(a.node)}"><title>{escape(chr(10).join(tip))}</title></rect>'
    ]
    room = int((bw - 6) // 6.5)  # characters that fit at ~6.5 px each
    if room >= 3:
        text = a.node if len(a.node) <= room else a.node[: room - 1] + "\u2026"
        out.append(
            f'<text class="label" x="{bx + 3:.2f}" y="{by + _BAR - 4:.1f}" fill="#fff">'
            f"{escape(text)}</text>"
        )
    return out


def _legend() -> str:
    """The colour of every status, and the critical path's outline."""
    legend = "".join(
        f'<li><span style="background:{colour}"></span>{escape(status.value)}</li>'
        for status, colour in COLOURS.items()
    )
    return legend + (
        f'<li><span style="background:#fff;outline:2.5px solid {CRITICAL_STROKE}"></span>'
        "critical path</li>"
    )


def _page(heading: str, headline: str, svg: str, summary: str) -> str:
    """The whole HTML page around the chart."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{escape(heading)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(heading)}</h1>",
            f'<p class="summary">{escape(headline)}</p>',
            f'<ul class="legend">{_legend()}</ul>',
            svg,
            f"<pre>{escape(summary)}</pre>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _headline(prof: Profile, trace: Trace) -> str:
    counts: dict[str, int] = {}
    for status in trace.statuses.values():
        counts[status.value] = counts.get(status.value, 0) + 1
    by_status = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (
        f"{len(trace.nodes)} nodes ({by_status}) on {prof.n_workers} worker(s) in "
        f"{format_seconds(prof.makespan)}; parallel efficiency {prof.parallel_efficiency:.0%}"
    )


def _tick_step(span: float) -> float:
    """A round step (1, 2 or 5 x 10^k seconds) giving 5 to 10 ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / 8
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if base * m >= raw:
            return base * m
    return base * 10
