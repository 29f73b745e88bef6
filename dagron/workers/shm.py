"""Large buffers between local workers and their coordinator through shared memory.

A ZeroMQ frame of 100 MB is copied through the kernel's socket buffers and into a fresh
receive buffer; a file in ``/dev/shm`` is written once and mapped by the reader. So a local
worker (same host, started by the coordinator) writes a result's large buffers into one
*segment* file in the coordinator's private directory (``/dev/shm/dagron-<pid>-<suffix>``, mode
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
- if the coordinator process dies without closing, its janitor (janitor.py) removes the
  directory (where workers are not killed with their parent, a worker whose coordinator
  vanished removes it before it exits).

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

from .._core import bytes_to_fill

__all__ = [
    "MIN_BYTES",
    "Segment",
    "SegmentDir",
    "forwarding",
    "interleave",
    "layout",
    "map_segment",
    "populate",
    "read_bytes",
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

# At most this many adopted segments keep their file open (far below the usual limit of
# 1,024 open files); the others are read through their mapping.
MAX_OPEN_FILES = 64

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
    fd = _open(path, sizes)
    try:
        return _map(fd, sizes)
    finally:
        os.close(fd)


def _open(path: str, sizes: Sequence[int]) -> int:
    offsets = layout(sizes)
    total = offsets[-1] + sizes[-1] if sizes else 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    if os.fstat(fd).st_size != total or total == 0:
        os.close(fd)
        raise ValueError(f"segment {os.path.basename(path)} is not {total} bytes long")
    return fd


def _map(fd: int, sizes: Sequence[int]) -> tuple[mmap.mmap, list[memoryview]]:
    offsets = layout(sizes)
    mapping = mmap.mmap(fd, offsets[-1] + sizes[-1], access=mmap.ACCESS_COPY)
    whole = memoryview(mapping)
    return mapping, [whole[at : at + size] for at, size in zip(offsets, sizes)]


def read_bytes(fd: int, size: int) -> bytes:
    """The first ``size`` bytes of the file ``fd`` as a ``bytes`` object, read straight into
    it (into huge pages where the kernel allows): cheaper than copying out of a mapping,
    whose pages would each be mapped first."""
    out, view = bytes_to_fill(size)
    with view:
        done = 0
        while done < size:
            got = os.preadv(fd, [view[done:]], done)
            if got <= 0:
                raise OSError(f"segment ended after {done} of {size} bytes")
            done += got
    return out


def populate(mapping: mmap.mmap) -> None:
    """Maps all of ``mapping``'s pages now, before it is copied out in one go."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        mapping.madvise(_MADV_POPULATE_READ)


class Segment:
    """A segment the coordinator adopted: the mapping, and the name while it is linked (for
    forwarding). The name is unlinked when this object goes away or the run ends. A
    ``bytes`` result's segment also keeps the file open (``fd``), to be read straight into
    the ``bytes`` object when loaded."""

    __slots__ = ("__weakref__", "fd", "mapping", "name", "sizes")

    def __init__(
        self, name: str, sizes: tuple[int, ...], mapping: mmap.mmap, fd: Optional[int]
    ) -> None:
        self.name = name
        self.sizes = sizes
        self.mapping = mapping
        self.fd = fd


class SegmentDir:
    """The coordinator's private directory of segments, and the names it has adopted."""

    def __init__(self, root: str) -> None:
        self.path = tempfile.mkdtemp(prefix=f"dagron-{os.getpid()}-", dir=root)
        self.adopted: set[str] = set()
        self.open_files = 0  # segments holding their file open (see Segment.fd)

    @staticmethod
    def valid(name: Any) -> bool:
        return isinstance(name, str) and _NAME.fullmatch(name) is not None

    def adopt(
        self, name: str, sizes: Sequence[int], keep_open: bool = False
    ) -> tuple[Segment, list[memoryview]]:
        """Maps segment ``name`` written by a local worker; returns it and its buffers.
        ``keep_open`` keeps the file open too (a ``bytes`` result), while few are."""
        if not self.valid(name) or not all(type(s) is int and s >= 0 for s in sizes):
            raise ValueError(f"malformed segment reference {name!r}")
        fd: Optional[int] = _open(os.path.join(self.path, name), sizes)
        assert fd is not None
        try:
            mapping, views = _map(fd, sizes)
        except BaseException:
            os.close(fd)
            raise
        if keep_open and self.open_files < MAX_OPEN_FILES:
            self.open_files += 1
        else:
            os.close(fd)
            fd = None
        segment = Segment(name, tuple(sizes), mapping, fd)
        self.adopted.add(name)
        weakref.finalize(segment, self._release, name, fd)
        return segment, views

    def _release(self, name: str, fd: Optional[int]) -> None:
        self.discard(name)
        if fd is not None:
            os.close(fd)
            self.open_files -= 1

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
