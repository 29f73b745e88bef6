"""The processes benchmark's tables and its targets (PASS/MISS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from processes_driver import RUNNERS
from processes_runner import Result
from processes_tasks import MB
from processes_upstream import UPSTREAM_ROW
from processes_workloads import Spec


def fmt_time(s: Optional[float]) -> str:
    """Seconds as ms below 10 s, else as s; "n/a" for no figure."""
    if s is None:
        return "n/a"
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.2f} s"


def ratio(peer: Optional[float], ours: Optional[float]) -> str:
    """Peer time / dagron time, as "1.23x"."""
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.2f}x"


def print_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A markdown table, columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


class Figures:
    """The measured times by runner and case, the notes on missing ones, and the runners
    to show, in table order."""

    def __init__(self, table: dict[str, Result], notes: dict[str, dict[str, str]]) -> None:
        self.table = table
        self.notes = notes
        order = [
            "dagron processes",
            "dagron processes, cold (embedded)",
            "dagron threads",
            "serial (this process)",
            *[label for label, _ in RUNNERS.values() if label != "dagron processes"],
            UPSTREAM_ROW,
        ]
        self.runners = [r for r in order if r in table or r in notes]

    def get(self, runner: str, case: str) -> Optional[float]:
        """The time of ``case`` for ``runner``, if measured."""
        return self.table.get(runner, {}).get(case)

    def why(self, runner: str, case: str) -> str:
        """The note on ``runner``'s ``case`` (or on all its cases), or ""."""
        n = self.notes.get(runner, {})
        return n.get(case) or n.get("all") or ""


def report(
    table: dict[str, Result], notes: dict[str, dict[str, str]], spec: Spec, serial_ref: str
) -> list[tuple[str, bool]]:
    """Prints the tables of every case; returns the targets as (text, passed)."""
    figures = Figures(table, notes)
    serial = figures.get(serial_ref, "cpu")
    print_startup(figures)
    print_noop(figures, spec)
    print_layered(figures, spec)
    print_cpu(figures, spec, serial)
    print_transfer(figures, spec)
    return targets(table.get("dagron processes", {}), spec, serial)


def print_startup(f: Figures) -> None:
    """The start-up table."""
    print("\nworker start-up (pool/cluster creation + a first task on each of 2 workers):")
    print_table(
        ["runner", "start-up"],
        [[r, fmt_time(f.get(r, "startup"))] for r in f.runners if f.get(r, "startup") is not None],
    )


def print_noop(f: Figures, spec: Spec) -> None:
    """Table (a): independent no-op tasks."""
    n = spec.n_noop
    print(f"\n(a) {n:,} independent no-op tasks")
    rows = []
    for r in f.runners:
        t = f.get(r, "noop")
        if t is None and r in ("dagron threads", "serial (this process)"):
            continue
        per_task = "n/a" if t is None else f"{t / n * 1e6:.1f}"
        rows.append(
            [
                r,
                fmt_time(t),
                per_task,
                ratio(t, f.get("dagron processes", "noop")),
                f.why(r, "noop"),
            ]
        )
    print_table(["runner", "time", "us/task", "ratio", "note"], rows)


def print_layered(f: Figures, spec: Spec) -> None:
    """Table (b): the layered DAG."""
    g = spec.graph
    edges = sum(len(p) for p in g.parents)
    print(
        f"\n(b) layered DAG: {g.n:,} nodes ({g.levels} levels x {g.width}), {edges:,} edges, "
        "each node gets its parents' results"
    )
    rows = []
    for r in f.runners:
        t = f.get(r, "layered")
        if t is None and r in ("dagron processes, cold (embedded)", "dagron threads"):
            continue
        if r == "serial (this process)":
            continue
        rows.append(
            [r, fmt_time(t), ratio(t, f.get("dagron processes", "layered")), f.why(r, "layered")]
        )
    print_table(["runner", "time", "ratio", "note"], rows)


def print_cpu(f: Figures, spec: Spec, serial: Optional[float]) -> None:
    """Table (c): CPU-bound tasks, against the serial time."""
    print(
        f"\n(c) {spec.cpu_tasks} CPU tasks of ~{spec.cpu_seconds:.2f} s each "
        f"(pure Python, burn({spec.cpu_iters:,})) on 2 workers"
    )
    rows = []
    for r in f.runners:
        t = f.get(r, "cpu")
        if r == "dagron processes, cold (embedded)":
            continue
        ref = f.get(r, "cpu_serial") if r == UPSTREAM_ROW else serial
        speedup = "n/a" if t is None or ref is None else f"{ref / t:.2f}x"
        if r == UPSTREAM_ROW and t is not None:
            speedup += " (vs its own serial)"
        rows.append(
            [r, fmt_time(t), speedup, ratio(t, f.get("dagron processes", "cpu")), f.why(r, "cpu")]
        )
    print_table(["runner", "time", "speed-up over serial", "ratio", "note"], rows)


def print_transfer(f: Figures, spec: Spec) -> None:
    """Table (d): one big result returned, as bytes and as a numpy array."""
    size = spec.big_size
    print(f"\n(d) one {size / MB:.0f} MB result returned to the caller")
    rows = []
    for r in f.runners:
        if r in ("dagron processes, cold (embedded)", "dagron threads", "serial (this process)"):
            continue
        row = [r]
        for kind in ("bytes", "numpy"):
            t = f.get(r, kind)
            row += [
                fmt_time(t),
                "n/a" if t is None else f"{size / t / MB:,.0f}",
                ratio(t, f.get("dagron processes", kind)),
            ]
        row.append("; ".join(x for x in (f.why(r, "bytes"), f.why(r, "numpy")) if x))
        rows.append(row)
    print_table(
        [
            "runner",
            "bytes time",
            "bytes MB/s",
            "ratio",
            "numpy time",
            "numpy MB/s",
            "ratio",
            "note",
        ],
        rows,
    )


def targets(ours: Result, spec: Spec, serial: Optional[float]) -> list[tuple[str, bool]]:
    """dagron processes' figures against the targets, as (text, passed)."""
    verdicts: list[tuple[str, bool]] = []
    if not ours:
        return verdicts
    n, g, size = spec.n_noop, spec.graph, spec.big_size
    a, b, c = ours.get("noop"), ours.get("layered"), ours.get("cpu")
    if a is not None:
        us = a / n * 1e6
        verdicts.append((f"(a) <= 50 us per no-op task (warm): {us:.1f} us", us <= 50))
    if b is not None:
        verdicts.append((f"(b) {g.n:,}-node layered DAG <= 0.1 s: {b:.3f} s", b <= 0.1))
    if c is not None and serial is not None:
        verdicts.append((f"(c) >= 1.9x over serial: {serial / c:.2f}x", serial / c >= 1.9))
    for kind in ("bytes", "numpy"):
        t = ours.get(kind)
        if t is not None:
            rate = size / t / 1e9
            verdicts.append((f"(d) >= 1 GB/s, {kind}: {rate:.2f} GB/s", rate >= 1.0))
    return verdicts
