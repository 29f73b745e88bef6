"""The tasks of the processes benchmark, at module level so that every runner can ship them.

They travel by value (cloudpickle), as functions of a script's ``__main__`` do, so a worker
needs neither this directory on its path nor this module installed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import cloudpickle

MB = 1_000_000


def noop(*_: Any) -> None:
    """The no-op task of cases (a) and (b) for upstream."""
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
    """A warm-up task that keeps a worker busy long enough for the other to get one too."""
    time.sleep(seconds)


def nbytes(value: Any) -> int:
    """The size of a value :func:`big_value` returned, as received by the caller."""
    return len(value) if isinstance(value, bytes) else int(value.nbytes)


# By value, not by reference to this module: workers (dagron-worker, dask's, loky's) do not
# have bench/ on their path, and a script's __main__ functions, as these were, ship by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])
