"""Executor overhead: dagron's threads backend against its peers, in one run.

    .venv/bin/python bench/executor_bench.py [--nodes 10000] [--repeat 3] [--markdown]

Every runner executes the same no-op task per node on the same graphs, with the same number
of worker threads, so wall time / nodes is the scheduler's own per-node overhead:

* a chain of N nodes (nothing can run in parallel: pure dispatch latency), and
* a random DAG of N nodes with ~5 edges per node (~50,000 edges at N=10,000).

Runners: dagron (this checkout, threads backend), the same with every node forced onto a pool
thread (what the chain costs without the lone-node shortcut), upstream dagron 0.1.1 from PyPI
(needs Python >= 3.12: it is installed into its own virtualenv under
~/.cache/dagron-bench when such a Python is found, else the reason is printed), dask's
threaded scheduler, and a plain ``concurrent.futures.ThreadPoolExecutor`` ready-queue loop.
Graph construction is not timed. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Callable, Optional

from _common import best, machine_line, upstream_python

Edges = list[tuple[int, int]]


def noop(*_: Any) -> None:
    return None


def chain(n: int) -> Edges:
    return [(i, i + 1) for i in range(n - 1)]


def random_dag(n: int, per_node: int = 5, window: int = 200, seed: int = 1) -> Edges:
    """Each node depends on up to ``per_node`` of the ``window`` nodes before it."""
    rng = random.Random(seed)
    edges = set()
    for b in range(1, n):
        lo = max(0, b - window)
        for a in rng.sample(range(lo, b), min(b - lo, per_node)):
            edges.add((a, b))
    return sorted(edges)


# -- runners: each returns the best wall time in seconds -----------------------------------


def run_dagron(n: int, edges: Edges, workers: int, repeat: int, pool_only: bool) -> float:
    import dagron

    dag = dagron.DAG()
    names = [f"n{i}" for i in range(n)]
    dag.add_nodes(names)
    dag.add_edges([(names[a], names[b]) for a, b in edges])
    tasks = dict.fromkeys(names, noop)
    executor = dagron.DAGExecutor(dag, max_workers=workers)
    # A cancel_event keeps the loop free to watch it, so every node goes to a pool thread.
    options = {"cancel_event": threading.Event()} if pool_only else {}

    def go() -> None:
        result = executor.execute(tasks, **options)
        assert result.succeeded == n, result

    return best(go, repeat)


def run_dask(n: int, edges: Edges, workers: int, repeat: int) -> float:
    from dask.threaded import get

    preds: list[list[str]] = [[] for _ in range(n)]
    for a, b in edges:
        preds[b].append(f"n{a}")
    dsk = {f"n{i}": (noop, *preds[i]) for i in range(n)}
    keys = list(dsk)
    return best(lambda: get(dsk, keys, num_workers=workers), repeat)


def run_thread_pool(n: int, edges: Edges, workers: int, repeat: int) -> float:
    """The loop people write by hand: in-degrees, a pool, a queue of finished futures."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg0 = [0] * n
    for a, b in edges:
        succ[a].append(b)
        indeg0[b] += 1

    def go() -> None:
        indeg = indeg0[:]
        done: SimpleQueue[int] = SimpleQueue()
        with ThreadPoolExecutor(max_workers=workers) as pool:

            def submit(i: int) -> None:
                fut: Future[None] = pool.submit(noop)
                fut.add_done_callback(lambda _f, i=i: done.put(i))

            for i in range(n):
                if indeg[i] == 0:
                    submit(i)
            for _ in range(n):
                i = done.get()
                for s in succ[i]:
                    indeg[s] -= 1
                    if indeg[s] == 0:
                        submit(s)

    return best(go, repeat)


UPSTREAM_SCRIPT = """
import json, sys, time
import dagron
spec = json.load(open(sys.argv[1]))
out = {}
for label, (n, edges) in spec["workloads"].items():
    dag = dagron.DAG()
    names = [f"n{i}" for i in range(n)]
    for name in names:
        dag.add_node(name)
    for a, b in edges:
        dag.add_edge(names[a], names[b])
    tasks = {name: (lambda: None) for name in names}
    times = []
    for _ in range(spec["repeat"]):
        t0 = time.perf_counter()
        r = dagron.DAGExecutor(dag, max_workers=spec["workers"]).execute(tasks)
        times.append(time.perf_counter() - t0)
        assert r.succeeded == n, r
    out[label] = min(times)
print(json.dumps({"version": dagron.__version__, "times": out}))
"""


def run_upstream(
    workloads: dict[str, tuple[int, Edges]], workers: int, repeat: int
) -> tuple[dict[str, float], str]:
    exe, why = upstream_python()
    if exe is None:
        return {}, why
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "spec.json")
        spec.write_text(json.dumps({"workloads": workloads, "workers": workers, "repeat": repeat}))
        script = Path(tmp, "run.py")
        script.write_text(UPSTREAM_SCRIPT)
        # Nothing of this checkout may leak into the upstream interpreter's imports.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        done = subprocess.run(
            [exe, "-I", str(script), str(spec)],
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env,
            timeout=3600,
        )
    if done.returncode != 0:
        return {}, f"upstream run failed: {done.stderr.strip().splitlines()[-1:]}"
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return data["times"], f"upstream dagron {data['version']} on {exe}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-upstream", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()

    n = args.nodes
    rnd = random_dag(n)
    workloads = {f"chain {n}": (n, chain(n)), f"random {n}/{len(rnd)} edges": (n, rnd)}
    runners: dict[str, Callable[[int, Edges], float]] = {
        "dagron": lambda n_, e: run_dagron(n_, e, args.workers, args.repeat, False),
        "dagron (pool only)": lambda n_, e: run_dagron(n_, e, args.workers, args.repeat, True),
        "dask threaded": lambda n_, e: run_dask(n_, e, args.workers, args.repeat),
        "ThreadPoolExecutor loop": lambda n_, e: run_thread_pool(n_, e, args.workers, args.repeat),
    }
    import dagron

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    print(f"date: {now}")
    print(machine_line())
    print(f"dagron {dagron.__version__}, max_workers={args.workers}, best of {args.repeat}")
    print("figures: microseconds per node (wall time / nodes), no-op tasks", flush=True)
    table: dict[str, dict[str, Optional[float]]] = {}
    for runner, run in runners.items():
        table[runner] = {w: run(*spec) / spec[0] * 1e6 for w, spec in workloads.items()}
        print(f"# {runner}: done", flush=True)
    note = "skipped (--skip-upstream)"
    if not args.skip_upstream:
        times, note = run_upstream(workloads, args.workers, args.repeat)
        if times:
            table["upstream dagron 0.1.1"] = {
                w: times[w] / workloads[w][0] * 1e6 for w in workloads
            }
    if "upstream dagron 0.1.1" not in table:
        table["upstream dagron 0.1.1"] = dict.fromkeys(workloads)
    print(f"# upstream: {note}")
    report(table, list(workloads), args.markdown)
    targets(table, list(workloads))


def targets(table: dict[str, dict[str, Optional[float]]], workloads: list[str]) -> None:
    """Issue 3's targets, for information (the script always exits 0)."""
    ours = table["dagron"]
    chain_w = workloads[0]
    verdict = "PASS" if (ours[chain_w] or 0) < 25 else "MISS"
    print(f"target: < 25 us/node on the chain: {ours[chain_w]:.1f} us {verdict}")
    for w in workloads:
        up, dask = table["upstream dagron 0.1.1"][w], table["dask threaded"][w]
        us = ours[w] or 0.0
        if up is None:
            print(f"target: >= 5x lower than upstream dagron on {w}: n/a (not run)")
        else:
            print(
                f"target: >= 5x lower than upstream dagron on {w}: {up / us:.1f}x "
                f"{'PASS' if up >= 5 * us else 'MISS'}"
            )
        if dask is not None:
            print(
                f"target: lower than dask on {w}: {dask / us:.1f}x "
                f"{'PASS' if dask > us else 'MISS'}"
            )


def report(table: dict[str, dict[str, Optional[float]]], workloads: list[str], md: bool) -> None:
    ours = table["dagron"]

    def cell(runner: str, w: str) -> str:
        v = table[runner][w]
        if v is None:
            return "n/a"
        ratio = "" if runner == "dagron" else f" ({v / ours[w]:.1f}x)"  # type: ignore[operator]
        return f"{v:.1f}{ratio}"

    head = ["runner (us/node; ratio to dagron)", *workloads]
    rows = [[runner, *(cell(runner, w) for w in workloads)] for runner in table]
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))  # dask orders deep chains
    main()
