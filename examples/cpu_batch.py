"""CPU-heavy work: the processes backend sidesteps the GIL, threads cannot.

    python examples/cpu_batch.py            # 8 tasks of ~0.5 s each
    python examples/cpu_batch.py --tasks 4 --size 200000

Runs the same batch serially, on the threads backend and on the processes backend, and
prints the wall time of each and the speed-up over serial.
"""

from __future__ import annotations

import argparse
import os
import time

import dagron


def count_primes(limit: int) -> int:
    """Pure-Python CPU work: primes below ``limit`` by trial division."""
    found = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            found += 1
    return found


def batch_dag(tasks: int) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes([f"chunk_{i}" for i in range(tasks)])
    dag.add_node("total")
    dag.add_edges([(f"chunk_{i}", "total") for i in range(tasks)])
    return dag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--size", type=int, default=200_000, help="primes below this, per task")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    dag = batch_dag(args.tasks)
    tasks = {
        f"chunk_{i}": (lambda parents, s=args.size: count_primes(s)) for i in range(args.tasks)
    }
    tasks["total"] = lambda parents: sum(parents.values())

    t0 = time.perf_counter()
    serial = sum(count_primes(args.size) for _ in range(args.tasks))
    serial_s = time.perf_counter() - t0
    print(f"serial:    {serial_s:6.2f} s  (total {serial})")

    timings = {}
    for backend in ("threads", "processes"):
        ex = dagron.DAGExecutor(dag, backend=backend, max_workers=args.workers)
        result = ex.execute(tasks, pass_results=True)
        assert result.ok and result.node_results["total"].result == serial
        timings[backend] = result.total_duration_seconds
        speedup = serial_s / result.total_duration_seconds
        print(
            f"{backend + ':':10s} {result.total_duration_seconds:6.2f} s  ({speedup:.2f}x serial)"
        )
    print(f"processes vs threads: {timings['threads'] / timings['processes']:.2f}x faster")


if __name__ == "__main__":
    main()
