"""The interface every runner of the processes benchmark implements, and its results."""

from __future__ import annotations

from processes_workloads import Layered

Result = dict[str, float]  # case -> seconds


class Runner:
    """One peer: ``start`` once, the cases, ``close`` (always)."""

    name = ""

    def start(self) -> None:
        """Starts the workers and gives each a first task."""
        raise NotImplementedError

    def close(self) -> None:
        """Shuts every worker down (called whatever happened)."""
        raise NotImplementedError

    def noop(self, n: int) -> None:
        """Runs ``n`` independent no-op tasks."""
        raise NotImplementedError

    def layered(self, g: Layered) -> int:
        """Runs ``g``; returns the sum of its last level's results."""
        raise NotImplementedError

    def cpu(self, k: int, iters: int) -> None:
        """Runs ``k`` independent ``burn(iters)`` tasks."""
        raise NotImplementedError

    def big(self, kind: str, size: int) -> int:
        """Returns the number of bytes received."""
        raise NotImplementedError
