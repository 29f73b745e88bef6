"""Large buffers between local workers and their coordinator through shared memory.

A ZeroMQ frame of 100 MB is copied through the kernel's socket buffers and into a fresh
receive buffer; a file in ``/dev/shm`` is written once and mapped by the reader. So a local
worker (same host, started by the coordinator) writes a result's large buffers into one
*segment* file in the coordinator's private directory (``/dev/shm/dagron-PID-XXXX``, mode
0700) and sends only its name and the buffers' sizes. The coordinator maps the file
copy-on-write: numpy arrays and other pickle-5 out-of-band buffers are rebuilt on the mapping
without a copy, a ``bytes`` result is made with a single copy, and a dependent task on a local
worker gets the segment's name (it maps the file too) rather than the data.

Life of a segment, so that no file outlives its use:

- the worker creates it (``<worker identity>-<n>``) just before sending the result;
- the coordinator maps it on receipt and unlinks it when the result is released, when the
  run ends (names are only needed to forward results within a run; mappings stay valid),
  or at once when the report is stale; files of a worker that dies are removed unless the
  coordinator had adopted them, and ``Coordinator.close`` removes the directory;
- a worker whose coordinator process vanished removes the directory before it exits.

Remote workers never get a directory: their results keep travelling as frames.
"""

from __future__ import annotations

import contextlib
import contextvars
import mmap
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from typing import Any, Optional

__all__ = [
    "MIN_BYTES",
    "Segment",
    "SegmentDir",
    "forwarding",
    "interleave",
    "layout",
    "map_segment",
    "populate",
    "shm_root",
    "write_segment",
]

# A buffer at least this large goes through a segment; smaller ones are cheaper as frames
# (a segment costs a few system calls and page-table work on both sides).
MIN_BYTES = 1 << 20
# Buffers start at multiples of this in a segment, so arrays rebuilt on it are aligned.
ALIGN = 64
# MADV_POPULATE_READ (Linux 5.14): map every page of a range in one call, instead of one page
# fault per 4 KiB page while copying out of the mapping.
_MADV_POPULATE_READ = 22

_NAME = re.compile(r"w[0-9a-f]{1,64}-[0-9]{1,20}")

# True while the coordinator pickles task arguments that will only go to local workers:
# results held in segments are then forwarded by name.
forwarding: contextvars.ContextVar[bool] = contextvars.ContextVar("forwarding", default=False)


def shm_root() -> Optional[str]:
    """Where segment directories go: ``/dev/shm`` where it exists (Linux), else None."""
    root = "/dev/shm"
    return root if os.path.isdir(root) and os.access(root, os.W_OK | os.X_OK) else None


def layout(sizes: Sequence[int]) -> list[int]:
    """Offsets of buffers of ``sizes`` laid out one after the other, each aligned."""
    offsets, at = [], 0
    for size in sizes:
        offsets.append(at)
        at += -(-size // ALIGN) * ALIGN
    return offsets


def write_segment(path: str, buffers: Sequence[Any]) -> list[int]:
    """Writes ``buffers`` into a new file at ``path``; returns their sizes. The file is
    removed again if writing fails (a full /dev/shm, say)."""
    views = [memoryview(b).cast("B") for b in buffers]
    sizes = [v.nbytes for v in views]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for view, at in zip(views, layout(sizes)):
            done = 0
            while done < view.nbytes:  # one write moves at most ~2 GiB
                done += os.pwrite(fd, view[done:], at + done)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return sizes


def map_segment(path: str, sizes: Sequence[int]) -> tuple[mmap.mmap, list[memoryview]]:
    """Maps the segment at ``path`` copy-on-write (whoever holds an array rebuilt on it may
    write to it without changing what others read); returns the mapping and one view per
    buffer."""
    offsets = layout(sizes)
    total = offsets[-1] + sizes[-1] if sizes else 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        if os.fstat(fd).st_size != total or total == 0:
            raise ValueError(f"segment {os.path.basename(path)} is not {total} bytes long")
        mapping = mmap.mmap(fd, total, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)
    whole = memoryview(mapping)
    return mapping, [whole[at : at + size] for at, size in zip(offsets, sizes)]


def populate(mapping: mmap.mmap) -> None:
    """Maps all of ``mapping``'s pages now, before it is copied out in one go."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        mapping.madvise(_MADV_POPULATE_READ)


class Segment:
    """A segment the coordinator adopted: the mapping, and the name while it is linked (for
    forwarding). The name is unlinked when this object goes away or the run ends."""

    __slots__ = ("__weakref__", "mapping", "name", "sizes")

    def __init__(self, name: str, sizes: tuple[int, ...], mapping: mmap.mmap) -> None:
        self.name = name
        self.sizes = sizes
        self.mapping = mapping


class SegmentDir:
    """The coordinator's private directory of segments, and the names it has adopted."""

    def __init__(self, root: str) -> None:
        self.path = tempfile.mkdtemp(prefix=f"dagron-{os.getpid()}-", dir=root)
        self.adopted: set[str] = set()

    @staticmethod
    def valid(name: Any) -> bool:
        return isinstance(name, str) and _NAME.fullmatch(name) is not None

    def adopt(self, name: str, sizes: Sequence[int]) -> tuple[Segment, list[memoryview]]:
        """Maps segment ``name`` written by a local worker; returns it and its buffers."""
        if not self.valid(name) or not all(type(s) is int and s >= 0 for s in sizes):
            raise ValueError(f"malformed segment reference {name!r}")
        mapping, views = map_segment(os.path.join(self.path, name), sizes)
        segment = Segment(name, tuple(sizes), mapping)
        self.adopted.add(name)
        weakref.finalize(segment, self.discard, name)
        return segment, views

    def discard(self, name: str) -> None:
        """Unlinks segment ``name`` (a stale one, or one whose result is released)."""
        if not self.valid(name):
            return
        self.adopted.discard(name)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.path, name))

    def release_all(self) -> None:
        """The run is over: unlink every name (the mappings stay valid for the results)."""
        for name in list(self.adopted):
            self.discard(name)

    def remove_strays(self, prefix: str) -> None:
        """Removes the files a dead worker (names starting with ``prefix``) left that were
        never adopted: results it wrote but did not get to send."""
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name not in self.adopted:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def close(self) -> None:
        self.adopted.clear()
        shutil.rmtree(self.path, ignore_errors=True)


def interleave(frames: Sequence[Any], indices: Sequence[int], views: Sequence[Any]) -> list[Any]:
    """The full frame list: ``views`` (a segment's buffers) at ``indices``, ``frames`` (those
    that travelled as frames) in the other places, in order."""
    out: list[Any] = [None] * (len(frames) + len(views))
    for at, view in zip(indices, views):
        out[at] = view
    rest = iter(frames)
    for at, frame in enumerate(out):
        if frame is None:
            out[at] = next(rest)
    return out


# The segment directory of this worker process (set when it starts as a local worker).
worker_dir: Optional[str] = None
