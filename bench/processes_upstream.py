"""Upstream dagron 0.1.1 on the processes benchmark's cases, in its own interpreter (it needs
Python >= 3.12): the script it runs, and the call that runs it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from _common import upstream_python
from processes_runner import Result
from processes_workloads import Spec

UPSTREAM_ROW = "upstream dagron 0.1.1"

UPSTREAM_SCRIPT = r"""
import functools, gc, json, sys, time
import dagron
from dagron.execution.backends.multiprocessing import MultiprocessingBackend
from dagron.execution.distributed_executor import DistributedExecutor

def noop(*_):
    return None

def burn(iters):
    x = 0
    for i in range(iters):
        x += i * i % 7
    return x

def big_value(kind, size):
    cache = sys.__dict__.setdefault("_processes_bench_cache", {})
    value = cache.get((kind, size))
    if value is None:
        if kind == "bytes":
            value = b"\x01" * size
        else:
            import numpy
            value = numpy.ones(size, dtype=numpy.uint8)
        cache[(kind, size)] = value
    return value

def best(run, repeat):
    times = []
    for _ in range(repeat):
        gc.collect(); gc.disable()
        try:
            t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)

spec = json.load(open(sys.argv[1]))
out = {"version": dagron.__version__, "python": sys.version.split()[0], "times": {}, "notes": {}}
times = out["times"]

def flat(n):
    dag = dagron.DAG()
    for i in range(n):
        dag.add_node(f"t{i}")
    return dag, [f"t{i}" for i in range(n)]

t0 = time.perf_counter()
backend = MultiprocessingBackend(max_workers=2)
try:
    list(backend._ensure_pool().map(time.sleep, [0.05, 0.05]))
    times["startup"] = time.perf_counter() - t0

    def run(dag, tasks):
        r = DistributedExecutor(dag, backend).execute(tasks).execution_result
        assert r.succeeded == len(tasks), r
        return r

    dag, names = flat(spec["n_noop"])
    tasks = dict.fromkeys(names, noop)
    times["noop"] = best(lambda: run(dag, tasks), spec["repeat"])

    dag = dagron.DAG()
    names = [f"n{i}" for i in range(len(spec["parents"]))]
    for name in names:
        dag.add_node(name)
    for c, ps in enumerate(spec["parents"]):
        for p in ps:
            dag.add_edge(names[p], names[c])
    tasks = dict.fromkeys(names, noop)
    times["layered"] = best(lambda: run(dag, tasks), spec["repeat"])
    out["notes"]["layered"] = "no-op tasks: its executor passes no results"

    burner = functools.partial(burn, spec["cpu_iters"])
    dag, names = flat(spec["cpu_tasks"])
    tasks = dict.fromkeys(names, burner)
    times["cpu"] = best(lambda: run(dag, tasks), spec["cpu_repeat"])
    times["cpu_serial"] = best(
        lambda: [burner() for _ in range(spec["cpu_tasks"])], spec["cpu_repeat"]
    )

    for kind in ("bytes", "numpy"):
        if kind == "numpy":
            try:
                import numpy  # noqa: F401
            except ImportError:
                out["notes"]["numpy"] = "numpy is not installed for upstream"
                continue
        dag, names = flat(1)
        tasks = {names[0]: functools.partial(big_value, kind, spec["big_size"])}

        def one():
            r = run(dag, tasks)
            value = r.node_results[names[0]].result
            assert len(value) == spec["big_size"]

        one()  # the worker builds its value
        times[kind] = best(one, spec["repeat"] + 1)
finally:
    backend.shutdown(wait=True)
print(json.dumps(out))
"""


def run_upstream(spec: Spec) -> tuple[Result, dict[str, str], str]:
    """Upstream's times (seconds, case -> time), notes per case, and a description."""
    exe, why = upstream_python(extra=("numpy",))
    if exe is None:
        return {}, {}, why
    payload = {
        "n_noop": spec.n_noop,
        "parents": spec.graph.parents,
        "cpu_tasks": spec.cpu_tasks,
        "cpu_iters": spec.cpu_iters,
        "big_size": spec.big_size,
        "repeat": spec.repeat,
        "cpu_repeat": spec.cpu_repeat,
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp, "spec.json")
        spec_file.write_text(json.dumps(payload))
        script = Path(tmp, "run.py")
        script.write_text(UPSTREAM_SCRIPT)
        # Nothing of this checkout may leak into the upstream interpreter's imports.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        try:
            done = subprocess.run(
                [exe, "-I", str(script), str(spec_file)],
                capture_output=True,
                text=True,
                cwd=tmp,
                env=env,
                timeout=1800,
            )
        except subprocess.TimeoutExpired:
            return {}, {}, "upstream run timed out after 1800 s"
    if done.returncode != 0:
        return {}, {}, f"upstream run failed: {done.stderr.strip().splitlines()[-1:]}"
    data = json.loads(done.stdout.strip().splitlines()[-1])
    desc = f"upstream dagron {data['version']} (Python {data['python']}, {exe})"
    return data["times"], data["notes"], desc
