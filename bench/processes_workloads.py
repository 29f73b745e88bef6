"""What the processes benchmark runs: the layered DAG of case (b) and the sizes of a run."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from processes_tasks import burn


@dataclass
class Layered:
    """A DAG of ``levels`` levels of ``width`` nodes, ids level by level."""

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
    """Every node outside the first level gets ``per_node`` parents from the level above."""
    rng = random.Random(seed)
    parents: list[list[int]] = [[] for _ in range(width)]
    for level in range(1, levels):
        above = range((level - 1) * width, level * width)
        for _ in range(width):
            parents.append(sorted(rng.sample(above, per_node)))
    return Layered(levels, width, parents)


@dataclass
class Spec:
    """The sizes and repeat counts of one run (the full run or ``--quick``)."""

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
