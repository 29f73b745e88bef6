"""Import time: what a fresh interpreter pays before its first line of work, for dagron and
its peers, in one run.

Each figure is the best of ``--repeat`` fresh interpreters (``python -c "import x"``, the
interpreter's own start-up subtracted), with bytecode caches on, as an installed package has
them. dagron's figure matters twice: every script pays it, and every worker process of the
processes backend pays the worker's share of it when it starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

from _common import machine_line

# (label, statement): what a user of each would import to start.
RUNNERS = [
    ("dagron", "import dagron"),
    ("dagron worker process", "import dagron.workers.worker"),
    ("concurrent.futures", "import concurrent.futures"),
    ("joblib", "import joblib"),
    ("dask", "import dask"),
    ("dask.distributed", "import distributed"),
    ("ray", "import ray"),
]
TARGET_MS = 50.0


def fresh(statement: str, repeat: int) -> float:
    """Best wall time, in ms, of ``repeat`` fresh interpreters running ``statement``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", statement], env=env, check=True)  # caches written
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], env=env, check=True)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(machine_line())
    print(f"best of {args.repeat} fresh interpreters, bytecode caches on, start-up subtracted")
    bare = fresh("pass", args.repeat)
    rows = []
    for label, statement in RUNNERS:
        module = statement.split()[1].split(".")[0]
        if importlib.util.find_spec(module) is None:
            rows.append((label, None, "not installed"))
            continue
        rows.append((label, fresh(statement, args.repeat) - bare, ""))
    ours = rows[0][1]
    assert ours is not None
    print("| import (ms; ratio to dagron) | time | note |\n|---|---|---|")
    for label, ms, note in rows:
        if ms is None:
            print(f"| {label} | n/a | {note} |")
        else:
            print(f"| {label} | {ms:.1f} ({ms / ours:.2f}x) | {note} |")
    verdict = "PASS" if ours <= TARGET_MS else "MISS"
    print(f"target: import dagron <= {TARGET_MS:.0f} ms: {ours:.1f} ms {verdict}")


if __name__ == "__main__":
    main()
