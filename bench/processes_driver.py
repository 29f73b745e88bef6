"""Runs the processes benchmark's cases on each chosen runner: the runners by command-line
key, and the loop that starts, measures and always shuts down each one."""

from __future__ import annotations

import time
from typing import Any, Callable

from _common import best
from processes_dagron_runners import DagronOnDaskRunner, DagronRemoteRunner, DagronRunner
from processes_peer_runners import DaskRunner, LokyRunner, PoolRunner, RayRunner
from processes_runner import Result, Runner
from processes_workloads import Spec

RUNNERS: dict[str, tuple[str, Callable[[], Runner]]] = {
    "dagron": ("dagron processes", DagronRunner),
    "ppe": ("ProcessPoolExecutor", PoolRunner),
    "loky": ("loky", LokyRunner),
    "dask": ("dask.distributed", DaskRunner),
    "dagron-dask": ("dagron on dask", DagronOnDaskRunner),
    "dagron-remote": ("dagron remote (tcp+curve)", DagronRemoteRunner),
    "ray": ("ray", RayRunner),
}


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


def run_local(
    key: str, spec: Spec, table: dict[str, Result], notes: dict[str, dict[str, str]]
) -> None:
    """Starts the runner ``key``, measures every case on it into ``table`` and always shuts it
    down; a missing package or a failure goes into ``notes``."""
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
