"""The processes engine on code as users write it: functions in ``__main__``, fresh task
objects every run, fresh interpreters. dagron against the threads backend and
ProcessPoolExecutor, side by side in one run.

    .venv/bin/python bench/user_code_bench.py [--quick] [--repeat 3]

Every case runs as a script of its own in a fresh interpreter (``python -c``), so its task
functions live in ``__main__`` and travel by value, as a user's do; bytecode caches are on, as
for an installed package. Cases:

(a) the getting-started guide's fan-out ETL (0.5 s of sleeps on the critical path) with
    ``max_workers=4``: wall time of the first and of the second ``execute()`` in one fresh
    interpreter, for ``backend="processes"``, ``backend="threads"`` and a
    ProcessPoolExecutor (fork) running the same tasks level by level;
(b) 5,000 no-op ``functools.partial(f, i)``, ``f`` in ``__main__``, built afresh for every
    repetition, on a warm ``LocalCluster(n_workers=2)``, against fresh closures
    ``lambda i=i: f(i)``, one shared callable for every node and
    ``ProcessPoolExecutor(2).submit``: microseconds per task;
(c) a 2,000-node layered DAG (20 levels x 100, 3 parents each) whose nodes get their
    parents' results, ``__main__`` functions: dagron with ``pass_results=True`` on a warm
    cluster against a ready-queue loop over ``ProcessPoolExecutor(2)``;
(d) a worker SIGKILLed between runs: how long until its replacement runs a task.

Figures are the best of ``--repeat`` (fresh interpreters for (a), repetitions in one warm
interpreter for the others). Ratios are reference time / dagron time (> 1: dagron faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from _common import machine_line

FANOUT = r"""
import json, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

def extract_api():
    time.sleep(0.5)
    return [{"source": "api", "id": 1}]

def extract_db():
    time.sleep(0.3)
    return [{"source": "db", "id": 2}]

def transform_api():
    return [{"source": "api", "id": 1, "clean": True}]

def transform_db():
    return [{"source": "db", "id": 2, "clean": True}]

def merge():
    return "merged 2 sources"

def load():
    return "loaded to warehouse"

TASKS = {"extract_api": extract_api, "extract_db": extract_db,
         "transform_api": transform_api, "transform_db": transform_db,
         "merge": merge, "load": load}
LEVELS = [["extract_api", "extract_db"], ["transform_api", "transform_db"], ["merge"], ["load"]]

def dag():
    import dagron
    return (dagron.DAG.builder()
        .add_node("extract_api").add_node("extract_db")
        .add_node("transform_api").add_node("transform_db")
        .add_node("merge").add_node("load")
        .add_edge("extract_api", "transform_api").add_edge("extract_db", "transform_db")
        .add_edge("transform_api", "merge").add_edge("transform_db", "merge")
        .add_edge("merge", "load").build())

def ppe():
    ctx = multiprocessing.get_context("fork")
    times = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(4, mp_context=ctx) as pool:
        for run in range(2):
            for level in LEVELS:
                for f in [pool.submit(TASKS[n]) for n in level]:
                    f.result()
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
    return times

def dagron_run(backend):
    t0 = time.perf_counter()
    import dagron
    g = dag()
    times = []
    for run in range(2):
        result = dagron.DAGExecutor(g, max_workers=4, backend=backend).execute(TASKS)
        assert result.succeeded == 6, result
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
    return times

if __name__ == "__main__":
    which = sys.argv[1]
    print(json.dumps(ppe() if which == "ppe" else dagron_run(which)))
"""

WARM = r"""
import functools, json, os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor
import dagron

N, REPEAT, LEVELS, WIDTH = (int(x) for x in sys.argv[1:5])

def f(i):
    return None

def add(*parents):
    return 1 + sum(parents)

def add_inputs(inputs):
    return add(*inputs.values())

def best(run):
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)

def flat(n):
    dag = dagron.DAG()
    dag.add_nodes([f"n{i}" for i in range(n)])
    return dag

def layered():
    import random
    rng = random.Random(1)
    parents = [[] for _ in range(WIDTH)]
    for level in range(1, LEVELS):
        above = range((level - 1) * WIDTH, level * WIDTH)
        for _ in range(WIDTH):
            parents.append(sorted(rng.sample(above, 3)))
    return parents

def main():
    out = {}
    dag = flat(N)
    parents = layered()
    g = dagron.DAG()
    g.add_nodes([f"v{i}" for i in range(len(parents))])
    g.add_edges([(f"v{p}", f"v{c}") for c, ps in enumerate(parents) for p in ps])
    with dagron.LocalCluster(n_workers=2) as cluster:
        ex = dagron.DAGExecutor(dag, backend=cluster)
        ex.execute({f"n{i}": functools.partial(f, i) for i in range(N)})  # warm
        def partials():
            r = ex.execute({f"n{i}": functools.partial(f, i) for i in range(N)})
            assert r.succeeded == N
        out["partials_us"] = best(partials) / N * 1e6
        def closures():
            r = ex.execute({f"n{i}": (lambda i=i: f(i)) for i in range(N)})
            assert r.succeeded == N
        out["closures_us"] = best(closures) / N * 1e6
        def shared():
            g0 = lambda: None
            r = ex.execute({f"n{i}": g0 for i in range(N)})
            assert r.succeeded == N
        out["shared_us"] = best(shared) / N * 1e6
        lx = dagron.DAGExecutor(g, backend=cluster)
        def dag_run():
            # a fresh closure per node that calls a __main__ helper
            r = lx.execute(
                {f"v{i}": (lambda inputs: add_inputs(inputs)) for i in range(len(parents))},
                pass_results=True,
            )
            assert r.succeeded == len(parents)
        out["layered_s"] = best(dag_run)
        # (d) a worker SIGKILLed between runs: from the kill to the first task that starts on
        # its replacement (tasks report their pid and start time; wall clock, one host).
        def started():
            time.sleep(0.05)
            return os.getpid(), time.time()
        eight = dagron.DAGExecutor(flat(8), backend=cluster)
        replaced = []
        for _ in range(REPEAT):
            r = eight.execute({f"n{i}": (lambda: started()) for i in range(8)})
            before = {v.result[0] for v in r.node_results.values()}
            victim = min(before)
            t_kill = time.time()
            os.kill(victim, signal.SIGKILL)
            r = eight.execute({f"n{i}": (lambda: started()) for i in range(8)}, timeout=30)
            assert r.succeeded == 8, r
            fresh = [v.result[1] for v in r.node_results.values() if v.result[0] not in before]
            assert fresh, "the replacement ran no task"
            replaced.append(min(fresh) - 0.05 - t_kill)
        out["replacement_s"] = min(replaced)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(f, range(100)))
        def ppe_submit():
            fs = [pool.submit(functools.partial(f, i)) for i in range(N)]
            for x in fs:
                x.result()
        out["ppe_submit_us"] = best(ppe_submit) / N * 1e6
        children = [[] for _ in parents]
        for c, ps in enumerate(parents):
            for p in ps:
                children[p].append(c)
        def ppe_loop():
            from concurrent.futures import FIRST_COMPLETED, wait
            need = [len(ps) for ps in parents]
            values = [0] * len(parents)
            running = {pool.submit(add): i for i in range(WIDTH)}
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    values[i] = fut.result()
                    for c in children[i]:
                        need[c] -= 1
                        if need[c] == 0:
                            running[pool.submit(add, *(values[p] for p in parents[c]))] = c
        out["ppe_layered_s"] = best(ppe_loop)
    print(json.dumps(out))

if __name__ == "__main__":
    main()
"""


def fresh(script: str, *args: str) -> object:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"a case failed (exit {out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = 1000 if args.quick else 5000
    levels, width = (5, 100) if args.quick else (20, 100)
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(machine_line())
    print(f"best of {args.repeat}; ratios: reference / dagron (> 1: dagron faster)")

    fan: dict[str, list[float]] = {}
    for which in ("processes", "threads", "ppe"):
        runs = [fresh(FANOUT, which) for _ in range(args.repeat)]
        fan[which] = [min(r[k] for r in runs) for k in (0, 1)]  # type: ignore[index]
    warm = fresh(WARM, str(n), str(args.repeat), str(levels), str(width))
    assert isinstance(warm, dict)

    print("\n(a) fan-out ETL, max_workers=4, fresh interpreter (s)")
    print(f"{'run':<8}{'processes':>11}{'threads':>10}{'PPE fork':>10}{'vs threads':>12}  target")
    for k, label in ((0, "first"), (1, "second")):
        p, t, e = fan["processes"][k], fan["threads"][k], fan["ppe"][k]
        print(f"{label:<8}{p:>11.3f}{t:>10.3f}{e:>10.3f}{p / t:>11.2f}x  <= 1.15x")
    print(f"\n(b) {n:,} no-op tasks on a warm 2-worker cluster (us/task)")
    print(f"  fresh partial(f, i), f in __main__: {warm['partials_us']:.1f}  (target <= 15)")
    print(f"  fresh closure per node over f:     {warm['closures_us']:.1f}")
    print(f"  one shared callable:              {warm['shared_us']:.1f}  (target <= 10)")
    print(
        f"  ProcessPoolExecutor.submit:        {warm['ppe_submit_us']:.1f}  "
        f"({warm['ppe_submit_us'] / warm['partials_us']:.1f}x the partials; target >= 8x)"
    )
    print(f"\n(c) {levels * width:,}-node layered DAG, results passed (s)")
    print(
        f"  dagron {warm['layered_s']:.3f}   PPE ready-queue loop {warm['ppe_layered_s']:.3f}   "
        f"{warm['ppe_layered_s'] / warm['layered_s']:.1f}x  (target >= 5x)"
    )
    print(
        f"\n(d) SIGKILLed worker: replacement running tasks after "
        f"{warm['replacement_s'] * 1000:.0f} ms  (target <= 100 ms)"
    )


if __name__ == "__main__":
    main()
