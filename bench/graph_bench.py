"""Graph benchmark (issue 2): dagron against rustworkx, networkx and graphlib, in one run.

Two graphs are built from the same lists of string names on every library:

* a chain of 100,000 nodes;
* a random layered DAG of 100,000 nodes (100 layers of 1,000) where every node outside the
  first layer has 3 distinct predecessors in the 3 layers above it (~300,000 edges), edges
  in shuffled order, fixed seed.

Each operation takes names in and gives names out on every library: rustworkx is driven
through a Python name -> index dict and hands names back through an index -> name list, and
those conversions are timed with it. Times are the best of several repeats
(``time.perf_counter``, garbage collector paused during a repeat, as ``timeit`` does). The
libraries take turns: in each of ``ROUNDS`` rounds every library in turn builds its graph,
repeats each operation for about ``SAMPLE_SECONDS / ROUNDS`` (once at least, 50 repeats at
most in all) and frees the graph. On a shared machine load comes in bursts of a second or
more; timing one library after the other lets a burst fall on one library's samples only,
while taking turns spreads every library's samples over the same stretch of time.

Then: a 100k chain inserted in reverse order (nodes and edges) against forward order, and
the resident memory of a 1,000,000-node / ~3,000,000-edge dagron DAG, measured in a fresh
subprocess that generates its input in chunks and frees it.

The targets of issue 2 are printed as PASS/MISS beside the numbers; they are informational
and the script always exits 0. A missing peer library is reported and skipped.

    .venv/bin/python bench/graph_bench.py            # the recorded run
    .venv/bin/python bench/graph_bench.py --quick    # a small smoke run
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

Names = list[str]
Edges = list[tuple[str, str]]

SEED = 2
LAYER_WIDTH = 1_000
PREDECESSORS = 3
LAYER_SPAN = 3

OPERATIONS = [
    "build",
    "topological sort",
    "topological levels",
    "acyclicity",
    "ancestors",
    "to_json",
]
# Issue 2's targets for dagron (milliseconds), names in and names out.
TARGET_MS: dict[str, float] = {
    "build": 50.0,
    "topological sort": 10.0,
    "topological levels": 10.0,
    "acyclicity": 5.0,
    "ancestors": 5.0,
    "to_json": 40.0,
}
NETWORKX_FACTOR = 20.0
# Sampling time per operation and library, the rounds it is spread over, and the most
# repeats a library gets.
SAMPLE_SECONDS = 0.5
ROUNDS = 5
MAX_REPEATS = 50
REVERSE_TOLERANCE = 1.5
RSS_TARGET_MB = 400.0


# ----- inputs ----------------------------------------------------------------------------------


def chain_graph(n: int) -> tuple[Names, Edges]:
    names = [f"node_{i}" for i in range(n)]
    return names, list(zip(names, names[1:]))


def layered_edges_for(rng: random.Random, i: int, width: int) -> list[int]:
    """The predecessors of node ``i``: distinct nodes of the ``LAYER_SPAN`` layers above it."""
    layer = i // width
    if layer == 0:
        return []
    lo = max(0, layer - LAYER_SPAN) * width
    return rng.sample(range(lo, layer * width), PREDECESSORS)


def layered_graph(n: int, width: int = LAYER_WIDTH, seed: int = SEED) -> tuple[Names, Edges]:
    rng = random.Random(seed)
    names = [f"node_{i}" for i in range(n)]
    edges = [(names[p], names[i]) for i in range(n) for p in layered_edges_for(rng, i, width)]
    rng.shuffle(edges)
    return names, edges


# ----- timing --------------------------------------------------------------------------------


def best_of(
    fn: Callable[[Any], Any], repeats: int, setup: Optional[Callable[[], Any]] = None
) -> tuple[float, Any]:
    """Best wall time in seconds over ``repeats`` calls of ``fn(setup())``; setup is untimed."""
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        arg = setup() if setup is not None else None
        result = None
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn(arg)
            elapsed = time.perf_counter() - t0
        finally:
            gc.enable()
        best = min(best, elapsed)
    return best, result


@dataclass
class Sampler:
    """One library's timed calls of one operation, spread over the rounds of `interleaved`."""

    fn: Callable[[Any], Any]
    setup: Optional[Callable[[], Any]] = None
    calls: int = 0
    best: float = float("inf")
    result: Any = None

    def run(self, repeats: int) -> None:
        self.result = None  # the last result (a built graph) is freed before the next call
        seconds, self.result = best_of(self.fn, repeats, self.setup)
        self.best = min(self.best, seconds)
        self.calls += repeats


def repeats_for(s: Sampler, scale: float) -> int:
    """A round's repeats for ``s``: about ``SAMPLE_SECONDS * scale / ROUNDS`` of calls by its
    best time so far, one at least, ``MAX_REPEATS`` in all at most (0 once that is spent)."""
    wanted = math.ceil(SAMPLE_SECONDS * scale / ROUNDS / max(s.best, 1e-9))
    return max(0, min(MAX_REPEATS - s.calls, max(1, wanted)))


def interleaved(samplers: list[Sampler], scale: float) -> None:
    """Times every sampler's calls in turns: one call each (cold caches, fresh memory: a
    sample, but a poor guide to the cost), then ``ROUNDS`` rounds of `repeats_for` calls
    each. Load bursts then hit every sampler alike."""
    for s in samplers:
        s.run(1)
    for _ in range(ROUNDS):
        for s in samplers:
            repeats = repeats_for(s, scale)
            if repeats:
                s.run(repeats)


# ----- the libraries, names in and names out ---------------------------------------------------


class Library:
    """One library's way of doing each operation. ``None`` means it has no such operation."""

    name = ""
    version = ""

    def build(self, names: Names, edges: Edges) -> Any:
        raise NotImplementedError

    def op(self, operation: str, graph: Any, middle: str) -> Optional[Callable[[Any], Any]]:
        raise NotImplementedError

    def op_setup(self, operation: str, graph: Any) -> Optional[Callable[[], Any]]:
        return None


class Dagron(Library):
    name = "dagron"

    def __init__(self) -> None:
        import dagron

        self.dagron = dagron
        self.version = dagron.__version__

    def build(self, names: Names, edges: Edges) -> Any:
        dag = self.dagron.DAG()
        dag.add_nodes(names)
        dag.add_edges(edges)
        return dag

    def op(self, operation: str, graph: Any, middle: str) -> Optional[Callable[[Any], Any]]:
        return {
            "topological sort": lambda _: graph.topological_sort(),
            "topological levels": lambda _: graph.topological_levels(),
            "acyclicity": lambda _: graph.is_acyclic(),
            "ancestors": lambda _: graph.ancestors(middle),
            "to_json": lambda _: graph.to_json(),
        }.get(operation)


@dataclass
class RxGraph:
    graph: Any
    index: dict[str, int]
    names: list[str]


class Rustworkx(Library):
    name = "rustworkx"

    def __init__(self) -> None:
        import rustworkx

        self.rx = rustworkx
        self.version = str(getattr(rustworkx, "__version__", "?"))

    def build(self, names: Names, edges: Edges) -> RxGraph:
        rx = self.rx
        g = rx.PyDiGraph(node_count_hint=len(names), edge_count_hint=len(edges))
        ids = g.add_nodes_from(names)
        index = dict(zip(names, ids))
        g.add_edges_from_no_data([(index[u], index[v]) for u, v in edges])
        by_index = [""] * (max(ids) + 1 if len(ids) else 0)
        for name, i in index.items():
            by_index[i] = name
        return RxGraph(g, index, by_index)

    def op(self, operation: str, graph: Any, middle: str) -> Optional[Callable[[Any], Any]]:
        rx, g, names = self.rx, graph.graph, graph.names
        return {
            "topological sort": lambda _: [names[i] for i in rx.topological_sort(g)],
            "topological levels": lambda _: [
                [names[i] for i in gen] for gen in rx.topological_generations(g)
            ],
            "acyclicity": lambda _: rx.is_directed_acyclic_graph(g),
            "ancestors": lambda _: [names[i] for i in rx.ancestors(g, graph.index[middle])],
            "to_json": lambda _: rx.node_link_json(g, node_attrs=lambda n: {"name": n}),
        }.get(operation)


class Networkx(Library):
    name = "networkx"

    def __init__(self) -> None:
        import networkx

        self.nx = networkx
        self.version = networkx.__version__

    def build(self, names: Names, edges: Edges) -> Any:
        g = self.nx.DiGraph()
        g.add_nodes_from(names)
        g.add_edges_from(edges)
        return g

    def _node_link_json(self, g: Any) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # older networkx warns about the edges= default
            try:
                data = self.nx.node_link_data(g, edges="edges")
            except TypeError:
                data = self.nx.node_link_data(g)
        return json.dumps(data)

    def op(self, operation: str, graph: Any, middle: str) -> Optional[Callable[[Any], Any]]:
        nx = self.nx
        return {
            "topological sort": lambda _: list(nx.topological_sort(graph)),
            "topological levels": lambda _: [list(g) for g in nx.topological_generations(graph)],
            "acyclicity": lambda _: nx.is_directed_acyclic_graph(graph),
            "ancestors": lambda _: list(nx.ancestors(graph, middle)),
            "to_json": lambda _: self._node_link_json(graph),
        }.get(operation)


class Graphlib(Library):
    """The standard library's ``graphlib.TopologicalSorter``: single-use, so every operation
    gets a freshly built sorter (untimed); it has no ancestors query and no export."""

    name = "graphlib"

    def __init__(self) -> None:
        import graphlib

        self.graphlib = graphlib
        self.version = platform.python_version()

    def build(self, names: Names, edges: Edges) -> Any:
        preds: dict[str, list[str]] = {n: [] for n in names}
        for u, v in edges:
            preds[v].append(u)
        return self.graphlib.TopologicalSorter(preds), preds

    @staticmethod
    def _levels(ts: Any) -> list[list[str]]:
        ts.prepare()
        levels = []
        while ts.is_active():
            ready = ts.get_ready()
            levels.append(list(ready))
            ts.done(*ready)
        return levels

    def op(self, operation: str, graph: Any, middle: str) -> Optional[Callable[[Any], Any]]:
        return {
            "topological sort": lambda ts: list(ts.static_order()),
            "topological levels": self._levels,
            "acyclicity": lambda ts: ts.prepare() is None,
        }.get(operation)

    def op_setup(self, operation: str, graph: Any) -> Optional[Callable[[], Any]]:
        preds = graph[1]
        return lambda: self.graphlib.TopologicalSorter(preds)


def load_libraries() -> list[Library]:
    libs: list[Library] = []
    for cls, pip_name in ((Dagron, "."), (Rustworkx, "rustworkx"), (Networkx, "networkx")):
        try:
            libs.append(cls())
        except ImportError as e:
            print(f"[skip] {cls.name}: not importable ({e}); `pip install {pip_name}` to compare")
    libs.append(Graphlib())
    return libs


# ----- running -------------------------------------------------------------------------------


@dataclass
class Row:
    operation: str
    ms: dict[str, Optional[float]] = field(default_factory=dict)
    sizes: dict[str, Optional[int]] = field(default_factory=dict)


def result_size(operation: str, result: Any) -> Optional[int]:
    """A figure every library should agree on, to catch a peer doing different work."""
    if operation in ("topological sort", "ancestors"):
        return len(result)
    if operation == "topological levels":
        return len(result)
    if operation == "acyclicity":
        return int(bool(result))
    return None


def build_with(lib: Library, names: Names, edges: Edges, _: Any) -> Any:
    return lib.build(names, edges)


def run_graph(libs: list[Library], names: Names, edges: Edges, scale: float) -> list[Row]:
    """Every library's build and operations, in turns: round 0 times one call of each (cold),
    then ``ROUNDS`` rounds in which each library in turn builds its graph, times each
    operation on it and frees it. Only one library's graph is alive at a time, so its calls
    run as they would on their own (a heap holding every library's graph made each
    ``gc.collect()`` take 0.3 s and evict the caches), while the turns spread every
    library's samples over the same stretch of time."""
    middle = names[len(names) // 2]
    rows = [Row(op) for op in OPERATIONS]
    samplers: dict[tuple[str, str], Sampler] = {}
    for round_no in range(ROUNDS + 1):
        for lib in libs:
            build = samplers.setdefault(
                (lib.name, "build"), Sampler(functools.partial(build_with, lib, names, edges))
            )
            build.run(1 if round_no == 0 else max(1, repeats_for(build, scale)))
            graph = build.result
            for row in rows[1:]:
                fn = lib.op(row.operation, graph, middle)
                if fn is None:
                    continue
                s = samplers.setdefault((lib.name, row.operation), Sampler(fn))
                s.fn, s.setup = fn, lib.op_setup(row.operation, graph)
                repeats = 1 if round_no == 0 else repeats_for(s, scale)
                if repeats:
                    s.run(repeats)
                    row.sizes[lib.name] = result_size(row.operation, s.result)
                    s.result = None
            build.result = None
            del graph
            gc.collect()
    for row in rows:
        for lib in libs:
            s = samplers.get((lib.name, row.operation))
            row.ms[lib.name] = None if s is None else s.best * 1e3
    for row in rows:
        sizes = {k: v for k, v in row.sizes.items() if v is not None}
        if len(set(sizes.values())) > 1:
            print(f"[warn] {row.operation}: libraries disagree on the result size: {sizes}")
    return rows


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def format_ms(ms: Optional[float]) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def print_table(title: str, libs: list[Library], rows: list[Row]) -> list[bool]:
    peers = [lib.name for lib in libs if lib.name != "dagron"]
    head = ["operation", "dagron ms", *[f"{p} ms (x)" for p in peers], "target", "vs nx>=20x"]
    table: list[list[str]] = []
    verdicts: list[bool] = []
    for row in rows:
        ours = row.ms.get("dagron")
        cells = [row.operation, format_ms(ours)]
        for p in peers:
            theirs = row.ms.get(p)
            if theirs is None or ours is None:
                cells.append(format_ms(theirs))
            else:
                cells.append(f"{format_ms(theirs)} ({theirs / ours:.1f}x)")
        target = TARGET_MS[row.operation]
        if ours is None:
            cells.append(f"<= {target:g} ms: n/a")
        else:
            ok = ours <= target
            verdicts.append(ok)
            cells.append(f"<= {target:g} ms {verdict(ok)}")
        nx_ms = row.ms.get("networkx")
        if ours is None or nx_ms is None:
            cells.append("n/a")
        else:
            ok = nx_ms / ours >= NETWORKX_FACTOR
            verdicts.append(ok)
            cells.append(verdict(ok))
        table.append(cells)
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |")
    return verdicts


def reverse_chain(n: int, scale: float) -> bool:
    import dagron

    names, edges = chain_graph(n)
    rev_names, rev_edges = names[::-1], edges[::-1]

    def build(ns: Names, es: Edges) -> Any:
        dag = dagron.DAG()
        dag.add_nodes(ns)
        dag.add_edges(es)
        return dag

    forward = Sampler(lambda _: build(names, edges))
    reverse = Sampler(lambda _: build(rev_names, rev_edges))
    interleaved([forward, reverse], scale)
    assert reverse.result.topological_sort() == names
    fwd, rev = forward.best, reverse.best
    ratio = rev / fwd
    ok = ratio <= REVERSE_TOLERANCE
    print(
        f"\nreverse-order chain build ({n:,} nodes; nodes and edges inserted last to first): "
        f"forward {fwd * 1e3:.1f} ms, reverse {rev * 1e3:.1f} ms, "
        f"ratio {ratio:.2f} (<= {REVERSE_TOLERANCE}) {verdict(ok)}"
    )
    return ok


# ----- memory, in a subprocess -----------------------------------------------------------------


def rss_child(n: int, chunk: int) -> None:
    """Builds an n-node layered DAG in chunks and prints RSS figures as one JSON line."""
    import resource

    import psutil

    import dagron

    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    dag = dagron.DAG()
    for start in range(0, n, chunk):
        names = [f"node_{i}" for i in range(start, min(n, start + chunk))]
        dag.add_nodes(names)
        del names
    rng = random.Random(SEED)
    for start in range(0, n, chunk):
        batch = [
            (f"node_{p}", f"node_{i}")
            for i in range(start, min(n, start + chunk))
            for p in layered_edges_for(rng, i, LAYER_WIDTH)
        ]
        dag.add_edges(batch)
        del batch
    gc.collect()
    after = proc.memory_info().rss
    print(
        json.dumps(
            {
                "nodes": dag.node_count(),
                "edges": dag.edge_count(),
                "rss_before": before,
                "rss_after": after,
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def measure_rss(n: int) -> Optional[bool]:
    try:
        import psutil  # noqa: F401
    except ImportError:
        print("\n[skip] RSS: psutil is not installed (`pip install psutil`)")
        return None
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--rss-child", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"\n[error] RSS subprocess failed ({proc.returncode}):\n{proc.stderr}")
        return None
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    mb = 1024 * 1024
    after = figures["rss_after"] / mb
    ok = after < RSS_TARGET_MB
    print(
        f"\nRSS of a {figures['nodes']:,}-node / {figures['edges']:,}-edge dagron DAG "
        f"(fresh subprocess, input generated in chunks and freed; built in "
        f"{figures['seconds']:.1f} s): before {figures['rss_before'] / mb:.0f} MB, "
        f"after {after:.0f} MB (graph {after - figures['rss_before'] / mb:.0f} MB), "
        f"peak {figures['peak'] / mb:.0f} MB; target < {RSS_TARGET_MB:g} MB {verdict(ok)}"
    )
    return ok


# ----- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="nodes per graph")
    parser.add_argument("--rss-nodes", type=int, default=1_000_000, help="nodes of the RSS DAG")
    parser.add_argument(
        "--sample-scale", type=float, default=1.0, help="scale the sampling time per operation"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--no-rss", action="store_true", help="skip the memory measurement")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.rss_child is not None:
        rss_child(args.rss_child, chunk=100_000)
        return 0
    if args.quick:
        args.nodes, args.rss_nodes, args.sample_scale = 10_000, 100_000, 0.4

    libs = load_libraries()
    if not libs or libs[0].name != "dagron":
        print("dagron is not importable: build it first (`make build`).")
        return 0
    print(f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    print("versions: " + ", ".join(f"{lib.name} {lib.version}" for lib in libs))
    print(
        f"repeats: best of about {SAMPLE_SECONDS * args.sample_scale:g} s of calls per "
        f"operation and library (at most {MAX_REPEATS}), taken in {ROUNDS} interleaved rounds"
    )

    verdicts: list[bool] = []
    n = args.nodes
    names, edges = chain_graph(n)
    rows = run_graph(libs, names, edges, args.sample_scale)
    verdicts += print_table(f"chain: {n:,} nodes, {len(edges):,} edges", libs, rows)
    del names, edges

    names, edges = layered_graph(n)
    rows = run_graph(libs, names, edges, args.sample_scale)
    title = (
        f"layered: {n:,} nodes, {len(edges):,} edges ({n // LAYER_WIDTH} layers of "
        f"{LAYER_WIDTH:,}, {PREDECESSORS} predecessors each from the {LAYER_SPAN} layers above, "
        f"shuffled edges, seed {SEED}); ancestors of {names[n // 2]}"
    )
    verdicts += print_table(title, libs, rows)
    del names, edges
    gc.collect()

    verdicts.append(reverse_chain(n, args.sample_scale))
    if not args.no_rss:
        ok = measure_rss(args.rss_nodes)
        if ok is not None:
            verdicts.append(ok)

    print(
        f"\ntargets: {verdicts.count(True)} PASS, {verdicts.count(False)} MISS "
        "(informational; ratios are peer time / dagron time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
