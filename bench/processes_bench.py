"""Processes engine: dagron's processes backend against process pools and clusters, in one run.

    .venv/bin/python bench/processes_bench.py [--quick] [--repeat 3] [--runners a,b,...]

Every runner uses 2 worker processes (one task at a time each) and is started once, warmed
up, and reused for every case, so the figures are the steady-state cost of moving work and
data; start-up (pool or cluster creation plus a first task on every worker) is reported on
its own. Cases:

(a) 10,000 independent no-op tasks: microseconds per task;
(b) a 2,000-node layered DAG (20 levels x 100 nodes, 3 parents each from the level above,
    seed 1) where every node gets its parents' results and returns 1 + their sum: dagron with
    ``pass_results=True``; ProcessPoolExecutor and loky through a hand-written ready-queue
    loop; dask and ray with futures / object refs as arguments (dependencies resolved by
    them). Upstream dagron's executor cannot pass results (its tasks take no arguments), so
    it runs the same graph with no-op tasks;
(c) 8 tasks of ~0.5 s pure-Python CPU each: speed-up over running them serially here, with
    dagron's threads backend for comparison;
(d) one 100 MB ``bytes`` result and one 100 MB numpy array returned to the caller (dagron's
    time includes reading ``NodeResult.result``): MB/s. Each worker builds the value on its
    first call and returns the same object afterwards, so a warm run measures the move.

Runners: ``dagron`` (a warm ``dagron.LocalCluster(n_workers=2)``; for (a) the embedded
``backend="processes"`` is also timed cold, start-up included), ``ppe``
(``concurrent.futures.ProcessPoolExecutor``), ``loky``, ``dask`` (``dask.distributed``
``LocalCluster``, processes, 1 thread per worker), ``ray`` (``ray.init(num_cpus=2)``), and
``upstream`` (dagron 0.1.1 from PyPI: ``DistributedExecutor`` on its
``MultiprocessingBackend``, run in a subprocess with a Python >= 3.12). A runner whose package
is missing prints why and the run goes on. Ratios are peer time / dagron time (> 1: dagron is
faster). Best of ``--repeat`` runs, garbage collector paused. Every pool and cluster is shut
down whatever happens; the script checks that no child process is left and exits 0.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import functools
import json
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Callable, Optional

from _common import best, machine_line, upstream_python

MB = 1_000_000

# -- the tasks (module level: every runner can ship them) ------------------------------------


def noop(*_: Any) -> None:
    return None


def burn(iters: int) -> int:
    """Pure-Python CPU work: holds the GIL throughout."""
    x = 0
    for i in range(iters):
        x += i * i % 7
    return x


def parents_sum(parents: dict[str, int]) -> int:
    """dagron's form of a layered-DAG node (``pass_results=True``: one dict argument)."""
    return 1 + sum(parents.values())


def args_sum(*values: int) -> int:
    """Everyone else's form of the same node: parents' results as positional arguments."""
    return 1 + sum(values)


def big_value(kind: str, size: int) -> Any:
    """A ``size``-byte ``bytes`` or numpy array, built on the first call in this process and
    the same object afterwards (kept on the ``sys`` module, which every worker has)."""
    cache: dict[tuple[str, int], Any] = sys.__dict__.setdefault("_processes_bench_cache", {})
    value = cache.get((kind, size))
    if value is None:
        if kind == "bytes":
            value = b"\x01" * size
        else:
            import numpy

            value = numpy.ones(size, dtype=numpy.uint8)
        cache[(kind, size)] = value
    return value


def pause(seconds: float) -> None:
    time.sleep(seconds)


def nbytes(value: Any) -> int:
    return len(value) if isinstance(value, bytes) else int(value.nbytes)


# -- workloads --------------------------------------------------------------------------------


@dataclass
class Layered:
    levels: int
    width: int
    parents: list[list[int]]  # node -> its parents (all in the level above)

    @property
    def n(self) -> int:
        return self.levels * self.width

    @property
    def last_level(self) -> range:
        return range(self.n - self.width, self.n)

    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.n)]
        for child, ps in enumerate(self.parents):
            for p in ps:
                out[p].append(child)
        return out

    def expected(self) -> int:
        """Sum of the last level's values, computed here."""
        values = [0] * self.n
        for i in range(self.n):
            values[i] = 1 + sum(values[p] for p in self.parents[i])
        return sum(values[i] for i in self.last_level)


def layered(levels: int, width: int, per_node: int = 3, seed: int = 1) -> Layered:
    rng = random.Random(seed)
    parents: list[list[int]] = [[] for _ in range(width)]
    for level in range(1, levels):
        above = range((level - 1) * width, level * width)
        for _ in range(width):
            parents.append(sorted(rng.sample(above, per_node)))
    return Layered(levels, width, parents)


@dataclass
class Spec:
    n_noop: int
    graph: Layered
    cpu_tasks: int
    cpu_iters: int
    big_size: int
    repeat: int
    cpu_repeat: int
    cpu_seconds: float


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` taking about ``seconds`` here."""
    iters = 100_000
    while True:
        t0 = time.perf_counter()
        burn(iters)
        took = time.perf_counter() - t0
        if took > 0.05:
            return max(1, int(iters * seconds / took))
        iters *= 4


# -- runners ----------------------------------------------------------------------------------

Result = dict[str, float]  # case -> seconds


class Runner:
    """One peer: ``start`` once, the cases, ``close`` (always)."""

    name = ""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def noop(self, n: int) -> None:
        raise NotImplementedError

    def layered(self, g: Layered) -> int:
        """Runs ``g``; returns the sum of its last level's results."""
        raise NotImplementedError

    def cpu(self, k: int, iters: int) -> None:
        raise NotImplementedError

    def big(self, kind: str, size: int) -> int:
        """Returns the number of bytes received."""
        raise NotImplementedError


class DagronRunner(Runner):
    name = "dagron processes"

    def __init__(self) -> None:
        import dagron

        self.dagron = dagron
        self.cluster: Any = None
        self.cache: dict[Any, Any] = {}

    def start(self) -> None:
        self.cluster = self.dagron.LocalCluster(n_workers=2)
        self.noop(4)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()

    def _executor(self, dag: Any) -> Any:
        return self.dagron.DAGExecutor(dag, backend=self.cluster, max_workers=2)

    def _flat(self, n: int, fn: Callable[..., Any]) -> tuple[Any, dict[str, Any]]:
        key = (n, fn)
        if key not in self.cache:
            dag = self.dagron.DAG()
            names = [f"t{i}" for i in range(n)]
            dag.add_nodes(names)
            self.cache[key] = (dag, dict.fromkeys(names, fn))
        return self.cache[key]

    def noop(self, n: int) -> None:
        dag, tasks = self._flat(n, noop)
        result = self._executor(dag).execute(tasks)
        assert result.succeeded == n, result

    def layered(self, g: Layered) -> int:
        key = ("layered", id(g))
        if key not in self.cache:
            dag = self.dagron.DAG()
            names = [f"n{i}" for i in range(g.n)]
            dag.add_nodes(names)
            dag.add_edges([(names[p], names[c]) for c, ps in enumerate(g.parents) for p in ps])
            self.cache[key] = (dag, dict.fromkeys(names, parents_sum), names)
        dag, tasks, names = self.cache[key]
        result = self._executor(dag).execute(tasks, pass_results=True)
        return sum(result.node_results[names[i]].result for i in g.last_level)

    def cpu(self, k: int, iters: int) -> None:
        burner = self.cache.setdefault(("burn", iters), functools.partial(burn, iters))
        dag, tasks = self._flat(k, burner)
        result = self._executor(dag).execute(tasks)
        assert result.succeeded == k, result

    def big(self, kind: str, size: int) -> int:
        key = ("big", kind, size)
        if key not in self.cache:
            dag = self.dagron.DAG()
            dag.add_node("big")
            self.cache[key] = (dag, {"big": functools.partial(big_value, kind, size)})
        dag, tasks = self.cache[key]
        result = self._executor(dag).execute(tasks)
        return nbytes(result.node_results["big"].result)


class DagronRemoteRunner(DagronRunner):
    """dagron's Cluster over TCP + CURVE on loopback, two workers from ``dagron-worker``:
    what remote hosts cost, measured on one machine (issue 5's case)."""

    name = "dagron remote (tcp+curve)"

    def start(self) -> None:
        import subprocess
        import tempfile

        from dagron.workers.security import generate_keys

        self.tmp = tempfile.mkdtemp(prefix="dagron-bench-keys-")
        keys = str(generate_keys(os.path.join(self.tmp, "keys")))
        self.cluster = self.dagron.Cluster("tcp://127.0.0.1:*", keys=keys)
        cmd = [sys.executable, "-m", "dagron.workers.cli", self.cluster.address]
        self.host = subprocess.Popen([*cmd, "--nprocs", "2", "--keys", keys])
        self.cluster.wait_for_workers(2, timeout=120)
        self.noop(4)

    def close(self) -> None:
        import shutil

        try:
            super().close()
        finally:
            host = getattr(self, "host", None)
            if host is not None:
                host.terminate()
                host.wait(30)
            shutil.rmtree(getattr(self, "tmp", ""), ignore_errors=True)


class DagronOnDaskRunner(DagronRunner):
    """dagron's scheduling on a dask.distributed cluster (``DaskBackend``): issue 7's case."""

    name = "dagron on dask"

    def start(self) -> None:
        import distributed

        self.dask_cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        self.client = distributed.Client(self.dask_cluster)
        self.noop(4)

    def close(self) -> None:
        try:
            if getattr(self, "client", None) is not None:
                self.client.close()
        finally:
            if getattr(self, "dask_cluster", None) is not None:
                self.dask_cluster.close()

    def _executor(self, dag: Any) -> Any:
        backend = self.dagron.DaskBackend(self.client)
        return self.dagron.DAGExecutor(dag, backend=backend, max_workers=2)


class FuturesRunner(Runner):
    """A ``concurrent.futures`` executor of processes: ProcessPoolExecutor or loky."""

    def __init__(self) -> None:
        self.pool: Any = None

    def make_pool(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        self.pool = self.make_pool()
        # Both workers up and past their first task.
        list(self.pool.map(pause, [0.05, 0.05]))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def noop(self, n: int) -> None:
        futures = [self.pool.submit(noop) for _ in range(n)]
        concurrent.futures.wait(futures)
        for f in futures:
            f.result()

    def layered(self, g: Layered) -> int:
        """The loop people write by hand: in-degrees, a pool, a queue of finished futures."""
        children = g.children()
        waiting = [len(ps) for ps in g.parents]
        values: list[int] = [0] * g.n
        done: SimpleQueue[tuple[int, concurrent.futures.Future[int]]] = SimpleQueue()

        def submit(i: int) -> None:
            future = self.pool.submit(args_sum, *[values[p] for p in g.parents[i]])
            future.add_done_callback(lambda f, i=i: done.put((i, f)))

        for i in range(g.n):
            if waiting[i] == 0:
                submit(i)
        for _ in range(g.n):
            i, future = done.get()
            values[i] = future.result()
            for c in children[i]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    submit(c)
        return sum(values[i] for i in g.last_level)

    def cpu(self, k: int, iters: int) -> None:
        list(self.pool.map(burn, [iters] * k))

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.pool.submit(big_value, kind, size).result())


class PoolRunner(FuturesRunner):
    name = "ProcessPoolExecutor"

    def make_pool(self) -> Any:
        return concurrent.futures.ProcessPoolExecutor(max_workers=2)


class LokyRunner(FuturesRunner):
    name = "loky"

    def __init__(self) -> None:
        super().__init__()
        import loky  # type: ignore[import-untyped,unused-ignore]

        self.loky = loky

    def make_pool(self) -> Any:
        return self.loky.ProcessPoolExecutor(max_workers=2)


class DaskRunner(Runner):
    name = "dask.distributed"

    def __init__(self) -> None:
        import distributed

        self.distributed = distributed
        self.cluster: Any = None
        self.client: Any = None

    def start(self) -> None:
        self.cluster = self.distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        self.client = self.distributed.Client(self.cluster)
        self.client.gather(self.client.map(pause, [0.05, 0.05], pure=False))

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def noop(self, n: int) -> None:
        self.client.gather(self.client.map(noop, range(n), pure=False))

    def layered(self, g: Layered) -> int:
        futures: list[Any] = []
        for i in range(g.n):
            futures.append(
                self.client.submit(args_sum, *[futures[p] for p in g.parents[i]], pure=False)
            )
        return sum(self.client.gather([futures[i] for i in g.last_level]))

    def cpu(self, k: int, iters: int) -> None:
        self.client.gather(self.client.map(burn, [iters] * k, pure=False))

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.client.submit(big_value, kind, size, pure=False).result())


class RayRunner(Runner):
    name = "ray"

    def __init__(self) -> None:
        import ray

        self.ray = ray
        self.started = False
        self.remote: dict[str, Any] = {}

    def start(self) -> None:
        self.started = True
        self.ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=False,
        )
        module = sys.modules[noop.__module__]
        if module.__name__ != "__main__":  # imported: ray's workers do not have bench/ on sys.path
            self.ray.cloudpickle.register_pickle_by_value(module)
        for fn in (noop, args_sum, burn, big_value, pause):
            self.remote[fn.__name__] = self.ray.remote(fn)
        self.ray.get([self.remote["pause"].remote(0.05) for _ in range(2)])

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()

    def noop(self, n: int) -> None:
        f = self.remote["noop"]
        self.ray.get([f.remote() for _ in range(n)])

    def layered(self, g: Layered) -> int:
        f = self.remote["args_sum"]
        refs: list[Any] = []
        for i in range(g.n):
            refs.append(f.remote(*[refs[p] for p in g.parents[i]]))
        return sum(self.ray.get([refs[i] for i in g.last_level]))

    def cpu(self, k: int, iters: int) -> None:
        f = self.remote["burn"]
        self.ray.get([f.remote(iters) for _ in range(k)])

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.ray.get(self.remote["big_value"].remote(kind, size)))


# -- upstream dagron 0.1.1, in its own interpreter ---------------------------------------------

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


# -- driving ------------------------------------------------------------------------------------

RUNNERS: dict[str, tuple[str, Callable[[], Runner]]] = {
    "dagron": ("dagron processes", DagronRunner),
    "ppe": ("ProcessPoolExecutor", PoolRunner),
    "loky": ("loky", LokyRunner),
    "dask": ("dask.distributed", DaskRunner),
    "dagron-dask": ("dagron on dask", DagronOnDaskRunner),
    "dagron-remote": ("dagron remote (tcp+curve)", DagronRemoteRunner),
    "ray": ("ray", RayRunner),
}
UPSTREAM_ROW = "upstream dagron 0.1.1"


def measure(runner: Runner, spec: Spec, out: Result, notes: dict[str, str]) -> None:
    """Every case on a started runner; a case that fails is noted and skipped."""
    g = spec.graph

    def case(name: str, run: Callable[[], Any], repeat: int) -> None:
        try:
            out[name] = best(run, repeat)
        except Exception as exc:
            notes[name] = f"failed: {type(exc).__name__}: {exc}"
            print(f"#   {runner.name} {name}: {notes[name]}", flush=True)

    case("noop", lambda: runner.noop(spec.n_noop), spec.repeat)
    expected = g.expected()

    def layered() -> None:
        got = runner.layered(g)
        assert got == expected, f"wrong layered result {got} != {expected}"

    case("layered", layered, spec.repeat)
    case("cpu", lambda: runner.cpu(spec.cpu_tasks, spec.cpu_iters), spec.cpu_repeat)
    for kind in ("bytes", "numpy"):

        def big(kind: str = kind) -> None:
            got = runner.big(kind, spec.big_size)
            assert got == spec.big_size, got

        # One run first to build the value on a worker; of the timed runs at least one then
        # lands on a worker that has it (two workers, three runs).
        try:
            big()
        except Exception as exc:
            notes[kind] = f"failed: {type(exc).__name__}: {exc}"
            print(f"#   {runner.name} {kind}: {notes[kind]}", flush=True)
        else:
            case(kind, big, max(3, spec.repeat))


def run_local(key: str, spec: Spec, table: dict[str, Result], notes: dict[str, dict[str, str]]):
    label, factory = RUNNERS[key]
    notes[label] = {}
    try:
        runner = factory()
    except ImportError as exc:
        notes[label]["all"] = f"not installed ({exc}); pip install it into .venv to compare"
        print(f"# {label}: {notes[label]['all']}", flush=True)
        return
    out: Result = {}
    print(f"# {label}: starting", flush=True)
    try:
        t0 = time.perf_counter()
        runner.start()
        out["startup"] = time.perf_counter() - t0
        measure(runner, spec, out, notes[label])
    except Exception as exc:
        notes[label]["all"] = f"failed: {type(exc).__name__}: {exc}"
        print(f"# {label}: {notes[label]['all']}", flush=True)
    finally:
        t0 = time.perf_counter()
        try:
            runner.close()
        except Exception as exc:
            print(f"# {label}: error while shutting down: {exc!r}", flush=True)
        print(f"# {label}: done (shut down in {time.perf_counter() - t0:.2f} s)", flush=True)
    table[label] = out


def run_extras(spec: Spec, table: dict[str, Result]) -> None:
    """Serial and dagron's threads backend on (c); dagron's embedded (cold) processes backend
    on (a), its start-up included."""
    import dagron

    cpu_dag = dagron.DAG()
    cpu_names = [f"c{i}" for i in range(spec.cpu_tasks)]
    cpu_dag.add_nodes(cpu_names)
    cpu_tasks = dict.fromkeys(cpu_names, functools.partial(burn, spec.cpu_iters))

    def threads() -> None:
        dagron.DAGExecutor(cpu_dag, backend="threads", max_workers=2).execute(cpu_tasks)

    def serial() -> None:
        for _ in range(spec.cpu_tasks):
            burn(spec.cpu_iters)

    table["serial (this process)"] = {"cpu": best(serial, spec.cpu_repeat)}
    table["dagron threads"] = {"cpu": best(threads, spec.cpu_repeat)}

    dag = dagron.DAG()
    names = [f"t{i}" for i in range(spec.n_noop)]
    dag.add_nodes(names)
    tasks = dict.fromkeys(names, noop)

    def cold() -> None:
        executor = dagron.DAGExecutor(dag, backend="processes", max_workers=2)
        assert executor.execute(tasks).succeeded == spec.n_noop

    table["dagron processes, cold (embedded)"] = {"noop": best(cold, spec.repeat)}


# -- reporting ----------------------------------------------------------------------------------


def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "n/a"
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.2f} s"


def ratio(peer: Optional[float], ours: Optional[float]) -> str:
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.2f}x"


def print_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def report(
    table: dict[str, Result], notes: dict[str, dict[str, str]], spec: Spec, serial_ref: str
) -> list[tuple[str, bool]]:
    ours = table.get("dagron processes", {})
    order = [
        "dagron processes",
        "dagron processes, cold (embedded)",
        "dagron threads",
        "serial (this process)",
        *[label for label, _ in RUNNERS.values() if label != "dagron processes"],
        UPSTREAM_ROW,
    ]
    rows_for = [r for r in order if r in table or r in notes]

    def get(runner: str, case: str) -> Optional[float]:
        return table.get(runner, {}).get(case)

    def why(runner: str, case: str) -> str:
        n = notes.get(runner, {})
        return n.get(case) or n.get("all") or ""

    print("\nworker start-up (pool/cluster creation + a first task on each of 2 workers):")
    print_table(
        ["runner", "start-up"],
        [[r, fmt_time(get(r, "startup"))] for r in rows_for if get(r, "startup") is not None],
    )

    n = spec.n_noop
    print(f"\n(a) {n:,} independent no-op tasks")
    rows = []
    for r in rows_for:
        t = get(r, "noop")
        if t is None and r in ("dagron threads", "serial (this process)"):
            continue
        per_task = "n/a" if t is None else f"{t / n * 1e6:.1f}"
        rows.append(
            [r, fmt_time(t), per_task, ratio(t, get("dagron processes", "noop")), why(r, "noop")]
        )
    print_table(["runner", "time", "us/task", "ratio", "note"], rows)

    g = spec.graph
    edges = sum(len(p) for p in g.parents)
    print(
        f"\n(b) layered DAG: {g.n:,} nodes ({g.levels} levels x {g.width}), {edges:,} edges, "
        "each node gets its parents' results"
    )
    rows = []
    for r in rows_for:
        t = get(r, "layered")
        if t is None and r in ("dagron processes, cold (embedded)", "dagron threads"):
            continue
        if r == "serial (this process)":
            continue
        rows.append(
            [r, fmt_time(t), ratio(t, get("dagron processes", "layered")), why(r, "layered")]
        )
    print_table(["runner", "time", "ratio", "note"], rows)

    serial = get(serial_ref, "cpu")
    print(
        f"\n(c) {spec.cpu_tasks} CPU tasks of ~{spec.cpu_seconds:.2f} s each "
        f"(pure Python, burn({spec.cpu_iters:,})) on 2 workers"
    )
    rows = []
    for r in rows_for:
        t = get(r, "cpu")
        if r == "dagron processes, cold (embedded)":
            continue
        ref = get(r, "cpu_serial") if r == UPSTREAM_ROW else serial
        speedup = "n/a" if t is None or ref is None else f"{ref / t:.2f}x"
        if r == UPSTREAM_ROW and t is not None:
            speedup += " (vs its own serial)"
        rows.append(
            [r, fmt_time(t), speedup, ratio(t, get("dagron processes", "cpu")), why(r, "cpu")]
        )
    print_table(["runner", "time", "speed-up over serial", "ratio", "note"], rows)

    size = spec.big_size
    print(f"\n(d) one {size / MB:.0f} MB result returned to the caller")
    rows = []
    for r in rows_for:
        if r in ("dagron processes, cold (embedded)", "dagron threads", "serial (this process)"):
            continue
        row = [r]
        for kind in ("bytes", "numpy"):
            t = get(r, kind)
            row += [
                fmt_time(t),
                "n/a" if t is None else f"{size / t / MB:,.0f}",
                ratio(t, get("dagron processes", kind)),
            ]
        row.append("; ".join(x for x in (why(r, "bytes"), why(r, "numpy")) if x))
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

    verdicts: list[tuple[str, bool]] = []
    if ours:
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


def stop_resource_trackers() -> None:
    """multiprocessing and loky each keep a resource-tracker process for the interpreter's
    life; stop them now so that the check below sees only real leftovers."""
    for module in ("multiprocessing.resource_tracker", "loky.backend.resource_tracker"):
        tracker = getattr(sys.modules.get(module), "_resource_tracker", None)
        stop = getattr(tracker, "_stop", None)
        if stop is not None:
            try:
                stop()
            except Exception:
                pass


def leftover_children() -> list[str]:
    """Child processes still alive (there should be none); any found are killed."""
    try:
        import psutil
    except ImportError:
        return []
    stop_resource_trackers()
    time.sleep(0.5)
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            left.append(f"{child.pid} {' '.join(child.cmdline())[:80]}")
            child.kill()
        except psutil.Error:
            pass
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--runners",
        default=",".join([*RUNNERS, "upstream"]),
        help=f"comma-separated, from: {', '.join([*RUNNERS, 'upstream'])} (dagron always runs)",
    )
    args = parser.parse_args()
    chosen = {r.strip() for r in args.runners.split(",") if r.strip()} | {"dagron"}
    unknown = chosen - {*RUNNERS, "upstream"}
    if unknown:
        parser.error(f"unknown runners: {', '.join(sorted(unknown))}")

    cpu_seconds = 0.05 if args.quick else 0.5
    if args.quick:
        spec = Spec(500, layered(5, 20), 4, calibrate(cpu_seconds), 10 * MB, 1, 1, cpu_seconds)
    else:
        spec = Spec(
            10_000, layered(20, 100), 8, calibrate(cpu_seconds), 100 * MB, args.repeat, 2, 0.5
        )

    import dagron

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    print(f"date: {now}")
    print(machine_line())
    print(f"versions: {versions()}")
    print(
        f"2 workers everywhere; best of {spec.repeat} (CPU case: best of {spec.cpu_repeat}); "
        f"ProcessPoolExecutor start method: {multiprocessing.get_start_method()}"
        + ("; --quick" if args.quick else ""),
        flush=True,
    )

    table: dict[str, Result] = {}
    notes: dict[str, dict[str, str]] = {}
    try:
        # Serial and threads first, right before dagron's own runs, so that the CPU case's
        # reference is measured under the same conditions as dagron.
        print("# serial, dagron threads, dagron processes cold (embedded): starting", flush=True)
        run_extras(spec, table)
        for key in RUNNERS:
            if key in chosen:
                run_local(key, spec, table, notes)
        if "upstream" in chosen:
            print("# upstream: starting", flush=True)
            times, up_notes, desc = run_upstream(spec)
            print(f"# upstream: {desc}", flush=True)
            notes[UPSTREAM_ROW] = dict(up_notes)
            if times:
                table[UPSTREAM_ROW] = times
            else:
                notes[UPSTREAM_ROW]["all"] = desc
        verdicts = report(table, notes, spec, "serial (this process)")
        print()
        for text, ok in verdicts:
            print(f"target {text} {'PASS' if ok else 'MISS'}")
        passed = sum(ok for _, ok in verdicts)
        print(f"targets: {passed} PASS, {len(verdicts) - passed} MISS (informational)")
        if args.quick:
            print("(--quick runs small sizes: the targets are meant for the full run)")
        del dagron
    finally:
        left = leftover_children()
        print(f"leftover child processes: {', '.join(left) if left else 'none'}")


def versions() -> str:
    import importlib.metadata as md

    out = []
    for dist in ("dagron", "pyzmq", "cloudpickle", "loky", "distributed", "ray", "numpy"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


if __name__ == "__main__":
    # Quiet the peers' own start-up chatter; errors still show.
    logging.basicConfig(level=logging.ERROR)
    for name in ("distributed", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted")
    sys.exit(0)
