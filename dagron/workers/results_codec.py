"""The STARTED and RESULT messages: how a worker encodes them and the coordinator decodes
them, side by side (layout in :mod:`dagron.workers.protocol`).

A worker encodes each finished task as a report, ``(header, frames)``: the header is the plain
tuple ``(key, status, started_at, finished_at, duration, extra, n_frames, segment)`` that goes
into the RESULT header, the frames its payload. The coordinator decodes a RESULT message into
``Report`` tuples, then each one's outcome into a value or an exception. Adopting a
report's shared-memory segment needs the coordinator's segment directory, so it stays there:
it hands the outcome decoders the payload with the segment's buffers already in place.

These run tens of thousands of times a second: the small-value path (``OK_INLINE``) makes no
call and no allocation it does not need.
"""

from __future__ import annotations

import pickle
import time
import traceback
from typing import Any, Optional, Sequence

from ..errors import RemoteTaskError, SerializationError
from ..node_result import describe_error, error_message
from . import shm
from .protocol import (
    BAD_TASK,
    INLINE_BYTES,
    OK_INLINE,
    OK_PICKLED,
    OK_RAW,
    RAISED,
    RESULT,
    STARTED,
    UNPICKLABLE_RESULT,
    SerializedValue,
    dump_header,
    dumps,
    load_header,
    loads,
)

__all__ = [
    "UNREADABLE",
    "Encoded",
    "LoadFailure",
    "Report",
    "SegmentRef",
    "as_unreadable",
    "decode_failure",
    "decode_result_message",
    "decode_started",
    "decode_value",
    "describe",
    "encode_bad_task",
    "encode_error",
    "encode_result_message",
    "encode_started",
    "encode_value",
    "is_value",
    "load_failure",
    "unreadable",
    "with_segment",
]

# (name, indices of the frames that are its buffers, their sizes): see shm.py
SegmentRef = tuple[str, tuple[int, ...], tuple[int, ...]]
# One report as a worker holds it before sending: its header tuple and its payload frames.
Encoded = tuple[tuple[Any, ...], list[Any]]

_pickle_dumps = pickle.dumps
# A report's status when the coordinator could not decode it (never sent: no worker uses
# it); its extra says why.
UNREADABLE = -1
_NO_FRAMES: list[Any] = []  # shared by every report without frames; never mutated


# Why a task could not be loaded on a worker: (type name, message, traceback text, what:
# "task" or "argument"); see load_failure.
LoadFailure = tuple[str, str, str, str]

# One finished task's report as the coordinator decodes it: ``(key, status, started_at,
# finished_at, duration, extra, frames, segment)``, ``frames`` its payload frames as received.
# A plain tuple rather than a named one: building a named tuple per report costs more than
# the rest of decoding it.
Report = tuple[int, int, float, float, float, Any, list[Any], Optional[SegmentRef]]


def describe(exc: BaseException) -> tuple[str, str]:
    """``exc``'s type name and message, for an exception that cannot travel itself. Never
    raises, whatever ``exc``'s ``__str__`` does."""
    return (type(exc).__qualname__, error_message(exc))


def _traceback_text(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # a broken exception (traceback copes with most): its one line
        return describe_error(exc) + "\n"


# ----- worker side -------------------------------------------------------------------------


def encode_value(key: int, value: Any, started: float, finished: float, took: float) -> Encoded:
    """The report of a task that returned ``value``: raw bytes, a small pickle inline in the
    header, a pickle with out-of-band buffers as frames, or ``UNPICKLABLE_RESULT``."""
    if type(value) is bytes:
        return (key, OK_RAW, started, finished, took, None, 1, None), [value]
    buffers: list[Any] = []
    main: Any
    try:
        # pickle.dumps inline rather than protocol.dumps: one call and one list fewer on the
        # path nearly every result takes.
        main = _pickle_dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception:  # protocol.dumps' own fallback, cloudpickle
        try:
            frames = dumps(value, by_value=True)
        except BaseException as exc:
            return _unpicklable(key, value, exc, started, finished, took)
        main, buffers = frames[0], frames[1:]
    except BaseException as exc:
        return _unpicklable(key, value, exc, started, finished, took)
    if not buffers and len(main) <= INLINE_BYTES:
        # the empty buffer list doubles as the report's (empty) frames
        return (key, OK_INLINE, started, finished, took, main, 0, None), buffers
    frames = [main, *buffers]
    return (key, OK_PICKLED, started, finished, took, None, len(frames), None), frames


def _unpicklable(
    key: int, value: Any, exc: BaseException, started: float, finished: float, took: float
) -> Encoded:
    extra = (type(value).__qualname__, describe_error(exc))
    return (key, UNPICKLABLE_RESULT, started, finished, took, extra, 0, None), []


def encode_error(
    key: int, exc: BaseException, started: float, finished: float, took: float
) -> Encoded:
    """The report of a task that raised ``exc``. The exception travels pickled when it also
    unpickles here; its type name, message and traceback always travel as text, so the
    coordinator can describe it even when it cannot unpickle it. Clears
    ``exc.__traceback__`` (frames do not pickle, and holding them keeps their locals alive)."""
    tb = _traceback_text(exc)
    exc.__traceback__ = None
    type_name, message = describe(exc)
    try:
        frames = dumps(exc)
        pickle.loads(frames[0], buffers=frames[1:])  # it must also come back
    except BaseException:
        return (key, RAISED, started, finished, took, (tb, False, type_name, message), 0, None), []
    extra = (tb, True, type_name, message)
    return (key, RAISED, started, finished, took, extra, len(frames), None), frames


def load_failure(exc: BaseException, what: str) -> LoadFailure:
    """Why the task's ``what`` (``"task"`` or ``"argument"``) did not unpickle on this
    worker, as it travels in every report of a task that needs it."""
    return (*describe(exc), _traceback_text(exc), what)


def encode_bad_task(key: int, failure: LoadFailure, at: float) -> Encoded:
    """The report of a task that could not be loaded (its callable or its arguments did not
    unpickle: ``failure``, from :func:`load_failure`) at ``at``."""
    return (key, BAD_TASK, at, at, 0.0, failure, 0, None), []


def with_segment(header: tuple[Any, ...], frames: list[Any], segment: SegmentRef) -> Encoded:
    """``header`` for a report whose large frames moved into ``segment``, ``frames`` left."""
    return (*header[:6], len(frames), segment), frames


def encode_started(key: int, started: float) -> list[Any]:
    """The STARTED message's parts: task ``key`` began at ``started``."""
    return [STARTED, dump_header((key, started))]


def encode_result_message(
    reports: Sequence[Encoded], started: Optional[tuple[int, float]]
) -> list[Any]:
    """The RESULT message's parts: ``reports`` and the started notice riding with them."""
    headers = tuple(header for header, _ in reports)
    return [RESULT, dump_header((headers, started)), *(f for _, fs in reports for f in fs)]


# ----- coordinator side --------------------------------------------------------------------
# Headers are msgpack and checked field by field: reading one runs no code, whoever sent it.
# The pickles a report carries (its value, its exception) are unpickled later, and only for
# a task the state machine confirms the sender was running.


def decode_started(header: Any) -> tuple[int, float]:
    """The STARTED header's ``(key, started_at)``."""
    key, started = load_header(header)
    if type(key) is not int or type(started) is not float:
        raise ValueError("malformed started notice")
    return key, started


def decode_result_message(
    parts: list[Any],
) -> tuple[list[Report], Optional[tuple[int, float]]]:
    """A RESULT message's parts after its type (header, then payload frames) as its reports
    and its started notice. Raises ValueError on a malformed message, before any report is
    handed out."""
    try:
        reports, started = load_header(parts[0])
        records: list[Report] = []
        at = 1
        for key, status, began, finished, took, extra, n_frames, segment in reports:
            # The types the coordinator relies on before it knows whether the sender ran the
            # task; the outcome fields (extra, segment) are checked where they are decoded.
            if (
                type(key) is not int
                or type(status) is not int
                or type(began) is not float
                or type(finished) is not float
                or type(took) is not float
                or type(n_frames) is not int
                or n_frames < 0
            ):
                raise ValueError("a report field of the wrong type")
            if n_frames:
                frames = parts[at : at + n_frames]
                at += n_frames
            else:
                frames = _NO_FRAMES
            records.append((key, status, began, finished, took, extra, frames, segment))
        if started is not None and (
            type(started) is not tuple
            or len(started) != 2
            or type(started[0]) is not int
            or type(started[1]) is not float
        ):
            raise ValueError("a started notice of the wrong shape")
    except Exception as exc:  # bad msgpack, a report of the wrong shape
        raise ValueError(f"malformed result: {exc}") from exc
    if at != len(parts):  # which frames are whose? Every report's outcome is unknown
        why = "its frames do not match its reports"
        records = [as_unreadable(r, why) for r in records]
    return records, started


def as_unreadable(report: Report, why: str) -> Report:
    """``report``, whose outcome cannot be decoded (``why``), as an ``UNREADABLE`` one: its
    task fails with an error saying so."""
    key, _, began, finished, took = report[:5]
    if not (type(began) is float and type(finished) is float):
        began = finished = time.monotonic()  # when it came: stamps are on this clock
    took = took if type(took) is float else 0.0
    return (key, UNREADABLE, began, finished, took, why, _NO_FRAMES, None)


def decode_value(
    status: int,
    extra: Any,
    payload: Sequence[Any] = (),
    held: Optional[tuple[shm.Segment, tuple[int, ...]]] = None,
) -> SerializedValue:
    """The value of an ``OK_INLINE``, ``OK_PICKLED`` or ``OK_RAW`` report, still in wire form;
    ``payload`` its frames as buffers (with any segment's buffers in place), ``held`` that
    segment and which frames it holds."""
    if status == OK_INLINE:
        if type(extra) is not bytes:
            raise ValueError("malformed inline result")
        return SerializedValue([extra], raw=False)
    return SerializedValue(payload, status == OK_RAW, held)


def is_value(status: int) -> bool:
    """Whether a report of ``status`` carries a value (else an error)."""
    return status == OK_INLINE or status == OK_PICKLED or status == OK_RAW


def decode_failure(
    status: int, extra: Any, payload: Sequence[Any], node: str, worker: str
) -> tuple[BaseException, Optional[str]]:
    """The error of a report that carries no value, and its traceback text: the task's own
    exception, a :class:`RemoteTaskError` when it cannot be unpickled here, or a
    :class:`SerializationError` for an unpicklable result or a task that did not load;
    ``node`` and ``worker`` name where it happened. Never raises: a report that cannot be
    read still fails its task, with an error saying so."""
    try:
        if status == RAISED:
            return _raised(extra, payload, worker)
        if status == UNPICKLABLE_RESULT:
            type_name, detail = extra
            return SerializationError(node, type_name, "result", detail), None
        if status == UNREADABLE:
            raise ValueError(extra)
        if status == BAD_TASK:
            type_name, detail, tb, what = extra
            where = f"node {node!r}" if node else "a node"
            message = (
                f"{where}: its {what} could not be loaded on the worker {worker} (it was "
                f"serialized here): {type_name}: {detail}"
            )
            return SerializationError(node, type_name, what, detail, message), tb
        raise ValueError(f"unknown status {status!r}")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return unreadable(node, worker, exc), None


def unreadable(node: str, worker: str, exc: BaseException) -> SerializationError:
    """The error of ``node``, whose report from ``worker`` could not be decoded (``exc``)."""
    detail = f"worker {worker} sent a report that cannot be read: {describe_error(exc)}"
    where = f"node {node!r}" if node else "a node"
    return SerializationError(node, "report", "result", detail, f"{where}: {detail}")


def _raised(extra: Any, payload: Sequence[Any], worker: str) -> tuple[BaseException, str]:
    tb, typed, type_name, message = extra
    if not typed:
        return RemoteTaskError(type_name, message, tb, worker), tb
    try:
        err = loads(payload)
        if not isinstance(err, BaseException):
            raise TypeError(f"a {type(err).__qualname__} is not an exception")
        return err, tb
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # its type cannot be imported here, or its unpickling raised
        why = f"{type_name}: {message} (raised on {worker}; it cannot be unpickled here: "
        why += f"{describe_error(exc)})"
        return RemoteTaskError(type_name, message, tb, worker, why), tb
