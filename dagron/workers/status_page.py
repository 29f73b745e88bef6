"""A local worker's status page: a small file, mapped shared, where the worker writes the task
it begins and when, just before calling it.

The coordinator reads it for two reasons. A task that keeps the GIL inside one C call stops
the worker's threads, so its own started notice may never leave; the page says it began, and
its timeout counts from then. And when a worker dies, the page says which task it took
with it, although a started notice may have died with the process.

Writer and reader are both here; the layout is ``<qd``: the key (-1: none yet) and the
start stamp on the coordinator's clock. A reader may see a key with the stamp of the task
before it (they are two stores); the stamp then errs early, never late.
"""

from __future__ import annotations

import mmap
import struct
from typing import Optional

__all__ = ["SIZE", "StatusPage", "create", "read_file"]

_LAYOUT = struct.Struct("<qd")
SIZE = _LAYOUT.size


def create(path: str) -> None:
    """Writes an empty page (no task begun) at ``path``."""
    with open(path, "wb") as f:
        f.write(_LAYOUT.pack(-1, 0.0))


def read_file(path: str) -> Optional[tuple[int, float]]:
    """The ``(key, started)`` of the last task begun, read from the file (None if none)."""
    try:
        with open(path, "rb") as f:
            key, started = _LAYOUT.unpack(f.read(SIZE))
    except (OSError, struct.error):
        return None
    return (key, started) if key >= 0 else None


class StatusPage:
    """The page at ``path`` (made by :func:`create`), mapped shared: the worker writes it,
    the coordinator reads it, neither through a system call."""

    def __init__(self, path: str) -> None:
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), SIZE)

    def begin(self, key: int, started: float) -> None:
        """The worker is about to call the task of ``key``, begun at ``started``."""
        _LAYOUT.pack_into(self._map, 0, key, started)

    def read(self) -> Optional[tuple[int, float]]:
        """The ``(key, started)`` of the last task begun (None if none)."""
        key, started = _LAYOUT.unpack_from(self._map, 0)
        return (key, started) if key >= 0 else None

    def close(self) -> None:
        self._map.close()
