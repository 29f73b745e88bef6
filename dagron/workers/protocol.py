"""Wire format between the coordinator and its workers.

Every message is one ZeroMQ multipart message: a one-byte type frame, a small header frame
(a msgpack array of ints, floats, str, bytes, None and nested arrays: a format that cannot
run code, so a peer's header is safe to read before it is known who sent it), then payload
frames. Payloads are pickle protocol 5 with out-of-band
buffers sent as frames of their own, so large arrays and buffers cross without being copied
into the pickle stream; a ``bytes`` result is sent as one raw frame, with no pickling at all.
Local workers put large buffers in shared memory instead of frames (see shm.py).

Message types and their headers:

=========  ===========  =======================================================================
type       direction    header / frames
=========  ===========  =======================================================================
HELLO      w -> c       ``(version, pid, host, name, clock)``; ``clock`` is ``(offset, error)``
                        of the worker's clock (see below), or None if not measured yet
WELCOME    c -> w       ``(version,)``
TASKS      c -> w       ``(fn_ids, ((key, fn_id, args), ...))``: first one frame per
                        function in ``fn_ids``, its pickle (function_codec.py; each refers to
                        functions before it, or sent earlier, by id), in that order; then one
                        entry per task, each followed by its argument
                        frames: ``args`` is how many (none: no arguments), or is the
                        arguments' pickle itself when that is small and has no out-of-band
                        buffers (a frame of its own costs more than the copy), or, when every
                        argument is a small forwarded result, ``(names, pickles)``: those
                        results' own pickles, by name for ``pass_results`` (see
                        :func:`forwarded_args`)
STARTED    w -> c       ``(key, started_at)``: the worker begins that task now
RESULT     w -> c       ``(reports, started)``: reports of finished tasks, each
                        ``(key, status, started_at, finished_at, duration, extra, n_frames,
                        segment)`` with its ``n_frames`` frames following in order;
                        ``segment`` is None, or ``(name, indices, sizes)`` from a local
                        worker: the frames at ``indices`` are buffers of those ``sizes`` in
                        that shared-memory segment (see shm.py); ``started`` is
                        ``(key, started_at)`` of the task the worker begins now, or None
CANCEL     c -> w       ``(key,)``: drop it if it has not started
SHUTDOWN   c -> w       ``()``
REJOIN     c -> w       ``()``: "I do not know you (any more)": drop queued work, say hello again
HEARTBEAT  w -> c       ``(worker identity, name, sent, clock)`` from the worker's heartbeat
                        socket: ``sent`` its clock reading, ``clock`` as in HELLO
HEARTBEAT  c -> w       ``(sent, now)``: the ping's ``sent`` and the coordinator's monotonic
                        clock, for the worker to measure its offset (clocksync.py)
MEMORY     w -> c       ``(worker identity, rss, limit)``: over its memory limit, leaving now
OUTPUT     w -> c       ``(worker identity, chunks)``: what tasks printed or logged, see output.py
PIECES     w -> c       ``(n, ...)``: another message whose parts were too large for a coordinator
                        with keys, each cut into ``n`` frames (see pieces.py)
VOUCH      n -> c       ``(nanny name, worker identities)``: from a host's nanny, those of its
                        workers that are alive and using CPU time (busy, not lost)
VOUCH      c -> n       ``()``: the answer, by which the nanny knows the coordinator lives
KILL       c -> n       ``(worker identity, reason)``: the nanny is to kill that worker (and
                        its process group) and start another
=========  ===========  =======================================================================

STARTED and RESULT are encoded and decoded in :mod:`dagron.workers.results_codec`.

Times (``started_at``, ``finished_at``) are on the coordinator's ``time.monotonic()`` clock:
the worker measures its own clock's offset from it over the heartbeat exchange and takes the
offset out before sending. ``duration`` is the worker's ``perf_counter`` interval.

Each worker has two sockets: the task socket, and a heartbeat socket served by a thread of
its own, so that a task holding the main thread for minutes does not look like a dead host.

A callable is sent to a worker once and referred to by ``fn_id`` afterwards: many nodes
usually share one function, and pickling it by value (cloudpickle) is the expensive part.
"""

from __future__ import annotations

import mmap
import os
import pickle
import threading
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import cloudpickle
import msgpack
import zmq

from .._core import bytes_to_fill
from ..node_result import Deferred
from . import shm

__all__ = [
    "CANCEL",
    "EXIT_BAD_CONFIG",
    "EXIT_COORDINATOR_GONE",
    "EXIT_MEMORY",
    "EXIT_PARENT_GONE",
    "FORGET",
    "HEARTBEAT",
    "HELLO",
    "MEMORY",
    "OUTPUT",
    "REJOIN",
    "PROTOCOL_VERSION",
    "RESULT",
    "SHUTDOWN",
    "STARTED",
    "TASKS",
    "WELCOME",
    "Buffer",
    "SerializedValue",
    "dump_header",
    "dumps",
    "forget_message",
    "load_forget",
    "load_header",
    "loads",
    "send_parts",
    "forwarded_args",
    "load_forwarded",
]

# 3: stamps on the coordinator's monotonic clock; clock offsets in HELLO and HEARTBEAT;
# small argument pickles inside the TASKS header; shared-memory segments in RESULT reports.
# 4: headers are msgpack, not pickles; a raised exception's type name and message travel as
# text beside its pickle; a task that did not load says whether its callable or its
# arguments failed; a worker host's nanny vouches for its workers (VOUCH) and takes kill
# orders (KILL).
PROTOCOL_VERSION = 5

HELLO = b"H"
WELCOME = b"W"
TASKS = b"T"
STARTED = b"S"
RESULT = b"R"
CANCEL = b"C"
SHUTDOWN = b"X"
REJOIN = b"J"
HEARTBEAT = b"B"
MEMORY = b"M"
OUTPUT = b"O"
FORGET = b"F"  # header: the function ids the worker may drop
VOUCH = b"V"
KILL = b"K"

# Worker exit codes the nanny acts on.
EXIT_PARENT_GONE = 3
EXIT_COORDINATOR_GONE = 4
EXIT_MEMORY = 5
EXIT_BAD_CONFIG = 6  # the worker cannot start as configured (its keys): restarting is futile

# RESULT status values.
OK_PICKLED = 0  # frames: the value, pickled
OK_RAW = 1  # frames: one frame that is the bytes value itself
# RAISED: frames: the exception, pickled (none when it does not unpickle);
# extra = (traceback text, whether it is pickled, type name, message)
RAISED = 2
UNPICKLABLE_RESULT = 3  # no frames; extra = (type name, message)
# BAD_TASK: the task or its arguments did not unpickle; no frames;
# extra = (type name, message, traceback text, "task" or "argument")
BAD_TASK = 4
OK_INLINE = 5  # no frames; extra = the value, pickled (a small one: cheaper than a frame)

Buffer = Union[bytes, memoryview, "pickle.PickleBuffer"]
# Forwarded small results as (argument names or None for positional, their pickles).
ForwardedArgs = tuple[Optional[tuple[Any, ...]], tuple[bytes, ...]]


_SNDMORE = int(zmq.SNDMORE)
# Parts smaller than this are copied into the message (cheaper than tracking a zero-copy
# reference); larger ones are sent from where they are.
_COPY_BELOW = 1 << 16


def send_parts(sock: zmq.Socket[Any], parts: Sequence[Any], flags: int = 0) -> None:
    """``sock.send_multipart(parts)`` without its per-call checks and flag objects: a few
    times cheaper for the small messages that make up most of the traffic."""
    last = len(parts) - 1
    for i, part in enumerate(parts):
        more = flags | _SNDMORE if i < last else flags
        sock.send(part, more, copy=type(part) is bytes and len(part) < _COPY_BELOW)


# One packer per thread (a worker packs on its main and its heartbeat threads): reusing one
# costs half of what msgpack.packb's fresh packer per call does.
_packers = threading.local()


def dump_header(header: tuple[Any, ...]) -> bytes:
    """``header`` (ints, floats, str, bytes, None, bools and tuples or lists of them) as
    msgpack; anything else raises TypeError."""
    try:
        pack = _packers.pack
    except AttributeError:
        pack = _packers.pack = msgpack.Packer(use_bin_type=True, datetime=False).pack
    result: bytes = pack(header)
    return result


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} in a header")


def load_header(frame: Any) -> tuple[Any, ...]:
    """The tuple in a header frame, arrays as tuples. Raises ValueError for anything that is
    not one well-formed msgpack array (bad bytes, trailing data, a map key that is not
    hashable, an extension type): the caller drops such a message. It never runs code."""
    try:
        header = msgpack.unpackb(frame, use_list=False, raw=False, ext_hook=_no_ext)
    except ValueError:
        raise
    except Exception as exc:  # msgpack's other errors (StackError, ExtraData's base, ...)
        raise ValueError(f"malformed header: {exc}") from exc
    if type(header) is not tuple:
        raise ValueError("malformed header: not an array")
    return header


def forget_message(fn_ids: tuple[int, ...]) -> list[bytes]:
    """The FORGET message: the worker may drop functions ``fn_ids`` (no task will use them)."""
    return [FORGET, dump_header(fn_ids)]


def load_forget(header: Any) -> tuple[int, ...]:
    """The function ids of a FORGET message's header (only ints are taken)."""
    return tuple(fn_id for fn_id in load_header(header) if type(fn_id) is int)


def dumps(obj: Any, *, by_value: bool = False) -> list[Buffer]:
    """``obj`` as frames: the pickle stream first, then its out-of-band buffers.

    ``by_value`` uses cloudpickle, which also handles lambdas, closures and functions defined
    in ``__main__``; plain pickle is tried first otherwise because it is faster.
    """
    buffers: list[pickle.PickleBuffer] = []
    if by_value:
        main = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    else:
        try:
            main = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        except Exception:
            buffers.clear()
            main = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return [main, *buffers]


def loads(frames: Sequence[Any]) -> Any:
    """Inverse of :func:`dumps`."""
    return pickle.loads(frames[0], buffers=frames[1:])


def forwarded_args(args: tuple[Any, ...]) -> Optional[ForwardedArgs]:
    """``args`` as ``(names, pickles)`` when every argument is a small result being
    forwarded (a :class:`SerializedValue` with :meth:`~SerializedValue.inline_pickle`), or
    ``args`` is one dict of them keyed by name (``pass_results=True``); ``names`` is None for
    positional arguments. The coordinator then sends the results' own pickles in the TASKS
    header instead of pickling the arguments again, and the worker rebuilds them with
    :func:`load_forwarded`. None for any other arguments."""
    names: Optional[tuple[Any, ...]] = None
    values: Iterable[Any] = args
    if len(args) == 1 and type(args[0]) is dict:
        names = tuple(args[0])
        if not all(type(n) is str for n in names):
            return None  # the names ride in a msgpack header: node names, str
        values = args[0].values()
    pickles = []
    for v in values:
        blob = v._inline if type(v) is SerializedValue else None
        if blob is None:
            return None
        pickles.append(blob)
    return (names, tuple(pickles)) if pickles else None


def load_forwarded(form: ForwardedArgs) -> tuple[Any, ...]:
    """Inverse of :func:`forwarded_args`: the call's positional arguments."""
    names, pickles = form
    if names is None:
        return tuple(pickle.loads(b) for b in pickles)
    if len(names) != len(pickles):
        raise ValueError("malformed forwarded arguments")
    return ({n: pickle.loads(b) for n, b in zip(names, pickles)},)


def _from_frames(*frames: Any) -> Any:
    # Runs in whichever process unpickles a forwarded value: the frames arrive as that
    # pickle's own out-of-band buffers, so the value is rebuilt without extra copies.
    return pickle.loads(frames[0], buffers=frames[1:])


def _raw_bytes(frame: Any) -> bytes:
    return bytes_of(frame)


# Copies this large into a new bytes object go into huge pages (see bytes_of).
HUGE_COPY = 8 << 20


def bytes_of(buffer: Any) -> bytes:
    """``bytes(buffer)``. A large buffer is copied into a ``bytes`` backed by huge pages:
    most of a plain copy's time is page faults on the new object, and this makes them 512
    times fewer (100 MB: ~40 ms rather than ~70 ms)."""
    src = memoryview(buffer)
    if src.nbytes < HUGE_COPY or not src.c_contiguous:
        return bytes(src)
    out, dst = bytes_to_fill(src.nbytes)
    with dst:
        dst[:] = src.cast("B")
    return out


def _from_segment(
    name: str, sizes: tuple[int, ...], indices: tuple[int, ...], raw: bool, *frames: Any
) -> Any:
    # Runs on a local worker: a forwarded value whose large buffers are in a segment of the
    # coordinator's directory; they are mapped here rather than sent.
    if shm.worker_dir is None:
        raise RuntimeError("a shared-memory value reached a process without segments")
    mapping, views = shm.map_segment(os.path.join(shm.worker_dir, name), sizes)
    return _load(shm.interleave(frames, indices, views), raw, mapping)


def _load(
    frames: Sequence[Any], raw: bool, mapping: Optional[mmap.mmap], fd: Optional[int] = None
) -> Any:
    if raw:
        if fd is not None:
            return shm.read_bytes(fd, memoryview(frames[0]).nbytes)
        if mapping is not None:
            shm.populate(mapping)  # one call maps the pages the copy below reads
        return bytes_of(frames[0])
    return pickle.loads(frames[0], buffers=frames[1:])


# A forwarded value this small is copied into the pickle stream rather than sent as frames.
INLINE_BYTES = 4096


_new_object = object.__new__


class SerializedValue(Deferred):
    """A task result still in its wire form; :meth:`load` deserialises it once.

    Pickling one (to send it to another worker as an argument) hands over its frames as
    out-of-band buffers, so data moves from worker to worker through the coordinator without
    being deserialised or copied there. A small value rides in-band instead: a frame of its
    own costs more than copying a few hundred bytes. A value whose large buffers came in a
    shared-memory segment (see :mod:`dagron.workers.shm`) holds the segment, and is forwarded
    to local workers by the segment's name.
    """

    __slots__ = ("_frames", "_inline", "_raw", "_reduced", "_segment")

    def __init__(
        self,
        frames: Sequence[Any],
        raw: bool,
        segment: Optional[tuple[shm.Segment, tuple[int, ...]]] = None,
    ) -> None:
        self._frames = list(frames)
        self._raw = raw
        # (segment, indices of the frames that are its buffers)
        self._segment = segment
        # How it pickles, worked out on the first pickling: a result is usually forwarded to
        # several dependents, one pickling each.
        self._reduced: Optional[tuple[Callable[..., Any], tuple[Any, ...]]] = None
        # The whole pickle when it is one small in-band frame (see inline_pickle).
        first = self._frames[0] if len(self._frames) == 1 else None
        self._inline: Optional[bytes] = (
            first
            if type(first) is bytes and not raw and segment is None and len(first) <= INLINE_BYTES
            else None
        )

    @classmethod
    def of_pickle(cls, data: bytes) -> SerializedValue:
        """A value whose whole pickle is ``data``, one in-band frame: what most results are,
        so built without :meth:`__init__`'s questions."""
        value = _new_object(cls)
        value._frames = [data]
        value._raw = False
        value._segment = None
        value._reduced = None
        value._inline = data if len(data) <= INLINE_BYTES else None
        return value

    @property
    def nbytes(self) -> int:
        return sum(memoryview(f).nbytes for f in self._frames)

    def inline_pickle(self) -> Optional[bytes]:
        """The value's whole pickle when that is one small in-band frame (most results of
        small values), else None."""
        return self._inline

    def load(self) -> Any:
        segment = self._segment
        if segment is None:
            return _load(self._frames, self._raw, None)
        return _load(self._frames, self._raw, segment[0].mapping, segment[0].fd)

    def __reduce_ex__(self, protocol: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self._segment is not None and shm.forwarding.get():
            return self._by_name(self._segment[0], self._segment[1])
        reduced = self._reduced
        if reduced is None:
            reduced = self._reduced = self._reduce()
        return reduced

    def _by_name(
        self, segment: shm.Segment, indices: tuple[int, ...]
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        rest = [f for i, f in enumerate(self._frames) if i not in indices]
        bufs = tuple(
            bytes(f) if memoryview(f).nbytes <= INLINE_BYTES else pickle.PickleBuffer(f)
            for f in rest
        )
        return (_from_segment, (segment.name, segment.sizes, indices, self._raw, *bufs))

    def _reduce(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        frames = self._frames
        if self.nbytes > INLINE_BYTES:
            bufs = tuple(pickle.PickleBuffer(f) for f in frames)
            return (_raw_bytes if self._raw else _from_frames, bufs)
        if self._raw:
            return (bytes, (bytes(frames[0]),))
        if len(frames) == 1:
            # pickle.loads itself, not a helper: one Python call less per value unpickled.
            return (pickle.loads, (bytes(frames[0]),))
        return (_from_frames, tuple(bytes(f) for f in frames))
