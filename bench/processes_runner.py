"""The interface every runner of the processes benchmark implements, and its results."""

from __future__ import annotations

from processes_workloads import Layered

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
