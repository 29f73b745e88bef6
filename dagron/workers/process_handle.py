"""What the coordinator needs of a local worker process, however it was started: a
``subprocess.Popen`` (spawned) or a :class:`~dagron.workers.forkserver_client.ForkedProcess`
(forked by the fork server, which tells its exit code)."""

from __future__ import annotations

from typing import Optional, Protocol

__all__ = ["WorkerProcess"]


class WorkerProcess(Protocol):
    """A started process: the subset of ``subprocess.Popen`` the pool and the nanny use."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> Optional[int]:
        """The exit code once known (negative: killed by that signal), else None."""
        ...

    def poll(self) -> Optional[int]:
        """The exit code if it has ended, else None; never blocks for long."""
        ...

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit code, waiting up to ``timeout`` (``subprocess.TimeoutExpired`` after)."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...
