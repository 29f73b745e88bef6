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

The pieces live beside this entry point: the tasks (``processes_tasks``), the workloads
(``processes_workloads``), the runners (``processes_runner``, ``processes_dagron_runners``,
``processes_peer_runners``, ``processes_upstream``), the loop over them
(``processes_driver``) and the tables and targets (``processes_report``).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import multiprocessing
import os
import sys
import time

from _common import machine_line
from processes_dagron_runners import run_extras
from processes_driver import RUNNERS, run_local
from processes_report import report
from processes_runner import Result
from processes_tasks import MB
from processes_upstream import UPSTREAM_ROW, run_upstream
from processes_workloads import Spec, calibrate, layered


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
    """Parses the command line, runs the chosen runners, prints the tables and targets."""
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
    """The versions of dagron and of the peers, or "(not installed)"."""
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
