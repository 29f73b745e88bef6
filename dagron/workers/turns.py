"""Runs on a long-lived coordinator take turns: one run drives it at a time."""

from __future__ import annotations

import threading

__all__ = ["Turns"]


class Turns:
    """The right to drive one coordinator. A run takes it for its whole length; whoever
    keeps the coordinator serviced between runs (a cluster's idle thread) holds it only
    briefly, and steps aside while :attr:`waiting` says a run wants it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Runs blocked in :meth:`take` now.
        self.waiting = 0

    def take(self) -> None:
        """Blocks until no one else drives the coordinator, then drives it."""
        self.waiting += 1
        try:
            self.lock.acquire()
        finally:
            self.waiting -= 1

    def give_back(self) -> None:
        """Done driving: the next run (or the idle thread) may."""
        self.lock.release()
