"""STARTED and RESULT messages: what a worker encodes, the coordinator decodes, without
sockets. Headers are checked field by field, so the wire layout is pinned too."""

from __future__ import annotations

import copyreg
import pickle
import threading
from typing import Any, Optional

import pytest

from dagron.errors import RemoteTaskError, SerializationError
from dagron.workers import protocol as p
from dagron.workers import results_codec as rc


class NeedsTwo(Exception):
    """Pickles, but does not unpickle: its reduction passes one argument of two."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)
        self.b = b


@pytest.fixture(autouse=True)
def needs_two_stays_unloadable() -> None:
    # dask.distributed, imported by other tests in the same process, registers a reducer for
    # every exception class there is (tblib), which would make NeedsTwo load after all.
    copyreg.dispatch_table.pop(NeedsTwo, None)


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback, as a task's exception has one."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def wire(reports: list[rc.Encoded], started: Optional[tuple[int, float]] = None) -> list[rc.Report]:
    """``reports`` sent as one RESULT message and decoded as the coordinator does: every part
    arrives as bytes."""
    parts = rc.encode_result_message(reports, started)
    assert parts[0] == p.RESULT
    received = [bytes(memoryview(part)) for part in parts[1:]]
    records, got_started = rc.decode_result_message(received)
    assert got_started == started
    return records


def outcome(record: rc.Report) -> Any:
    """The value, or the (error, traceback) pair, of one decoded report."""
    _, status, _, _, _, extra, frames, _ = record
    payload = [memoryview(f) for f in frames]
    if rc.is_value(status):
        return rc.decode_value(status, extra, payload).load()
    return rc.decode_failure(status, extra, payload, "node", "w1")


def test_encode_value_small_rides_inline_in_the_header() -> None:
    header, frames = rc.encode_value(7, {"a": [1, 2]}, 1.0, 2.0, 0.5)
    assert header == (7, p.OK_INLINE, 1.0, 2.0, 0.5, pickle.dumps({"a": [1, 2]}, 5), 0, None)
    assert frames == []
    (record,) = wire([(header, frames)])
    assert record[:6] == header[:6]
    assert outcome(record) == {"a": [1, 2]}


def test_encode_value_out_of_band_buffers_travel_as_frames() -> None:
    value = pickle.PickleBuffer(bytearray(b"x" * 10_000))
    header, frames = rc.encode_value(1, value, 1.0, 2.0, 0.5)
    assert header[1] == p.OK_PICKLED and header[6] == len(frames) == 2
    (record,) = wire([(header, frames)])
    assert bytes(outcome(record)) == b"x" * 10_000  # the buffer frame itself


def test_encode_value_large_pickle_is_a_frame() -> None:
    value = ["y" * (p.INLINE_BYTES + 1)]
    header, frames = rc.encode_value(1, value, 1.0, 2.0, 0.5)
    assert header[1] == p.OK_PICKLED and header[5] is None and len(frames) == 1
    assert outcome(wire([(header, frames)])[0]) == value


def test_encode_value_bytes_are_one_raw_frame() -> None:
    header, frames = rc.encode_value(1, b"raw", 1.0, 2.0, 0.5)
    assert header == (1, p.OK_RAW, 1.0, 2.0, 0.5, None, 1, None) and frames == [b"raw"]
    value = outcome(wire([(header, frames)])[0])
    assert value == b"raw" and type(value) is bytes


def test_encode_value_falls_back_to_cloudpickle() -> None:
    header, frames = rc.encode_value(1, lambda x: x + 1, 1.0, 2.0, 0.5)
    assert header[1] == p.OK_INLINE
    assert outcome(wire([(header, frames)])[0])(1) == 2


def test_encode_value_unpicklable_result_decodes_to_serialization_error() -> None:
    header, frames = rc.encode_value(1, threading.Lock(), 1.0, 2.0, 0.5)
    assert header[1] == p.UNPICKLABLE_RESULT and header[6] == 0 and frames == []
    err, tb = outcome(wire([(header, frames)])[0])
    assert isinstance(err, SerializationError) and tb is None
    assert (err.node_name, err.type_name, err.what) == ("node", "lock", "result")
    assert err.detail.startswith("TypeError: ")


def test_encode_error_exception_that_pickles_comes_back_itself() -> None:
    header, frames = rc.encode_error(3, raised(KeyError("boom")), 1.0, 2.0, 0.5)
    assert header[1] == p.RAISED and header[5][1] is True
    err, tb = outcome(wire([(header, frames)])[0])
    assert type(err) is KeyError and err.args == ("boom",)
    assert "KeyError: 'boom'" in tb and "raise exc" in tb


def test_encode_error_exception_that_does_not_unpickle_becomes_remote_task_error() -> None:
    exc = raised(NeedsTwo("half", "other"))
    header, frames = rc.encode_error(3, exc, 1.0, 2.0, 0.5)
    assert exc.__traceback__ is None  # dropped: frames do not travel
    assert header[1] == p.RAISED and header[5][1] is False
    err, tb = outcome(wire([(header, frames)])[0])
    assert isinstance(err, RemoteTaskError)
    assert (err.type_name, err.remote_message, err.worker) == ("NeedsTwo", "half", "w1")
    assert err.remote_traceback == tb and "NeedsTwo: half" in tb


@pytest.mark.parametrize("what", ["task", "argument"])
def test_encode_bad_task_decodes_to_serialization_error_saying_loading_failed(what: str) -> None:
    failure = rc.load_failure(raised(EOFError("truncated")), what)
    header, frames = rc.encode_bad_task(4, failure, 9.0)
    assert header[:5] == (4, p.BAD_TASK, 9.0, 9.0, 0.0) and frames == []
    err, tb = outcome(wire([(header, frames)])[0])
    assert isinstance(err, SerializationError)
    assert (err.node_name, err.type_name, err.what, err.detail) == (
        "node",
        "EOFError",
        what,
        "truncated",
    )
    assert str(err) == (
        f"node 'node': its {what} could not be loaded on the worker w1 (it was serialized "
        "here): EOFError: truncated"
    )
    assert "EOFError: truncated" in tb


# Whether RefusesToLoad's unpickling raises: off while the "worker" encodes, on while the
# "coordinator" decodes.
REFUSING = threading.Event()


def _rebuild(message: str) -> Exception:
    if REFUSING.is_set():
        raise RuntimeError("refuses to load here")
    return RefusesToLoad(message)


class RefusesToLoad(Exception):
    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, self.args)


def test_decode_failure_exception_that_does_not_unpickle_here_becomes_remote_task_error() -> None:
    REFUSING.clear()
    header, frames = rc.encode_error(3, raised(RefusesToLoad("mine")), 1.0, 2.0, 0.5)
    assert header[5][1:] == (True, "RefusesToLoad", "mine")  # pickled, and described
    REFUSING.set()
    try:
        err, tb = outcome(wire([(header, frames)])[0])
    finally:
        REFUSING.clear()
    assert isinstance(err, RemoteTaskError)
    assert (err.type_name, err.remote_message, err.worker) == ("RefusesToLoad", "mine", "w1")
    assert err.remote_traceback == tb and "RefusesToLoad: mine" in tb
    assert "cannot be unpickled here: RuntimeError: refuses to load here" in str(err)


class Mute(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


def test_encode_error_exception_whose_str_raises_still_travels() -> None:
    header, frames = rc.encode_error(3, raised(Mute("x")), 1.0, 2.0, 0.5)
    assert header[5][1:] == (True, "Mute", "<describing it failed: RuntimeError>")
    err, tb = outcome(wire([(header, frames)])[0])
    assert type(err) is Mute and "Mute" in tb


@pytest.mark.parametrize(
    "status, extra",
    [(p.RAISED, "not a tuple"), (p.BAD_TASK, (1,)), (p.UNPICKLABLE_RESULT, None), (99, None)],
)
def test_decode_failure_unreadable_report_still_fails_its_task(status: int, extra: Any) -> None:
    err, tb = rc.decode_failure(status, extra, [b"junk"], "node", "w1")
    assert isinstance(err, SerializationError) and err.node_name == "node" and tb is None
    assert str(err).startswith("node 'node': worker w1 sent a report that cannot be read: ")


def test_decode_result_message_hands_each_report_its_own_frames() -> None:
    reports = [
        rc.encode_value(1, b"first", 1.0, 2.0, 0.5),
        rc.encode_value(2, 42, 1.0, 2.0, 0.5),
        rc.encode_value(3, pickle.PickleBuffer(b"z" * 5000), 1.0, 2.0, 0.5),
        rc.encode_value(4, b"last", 1.0, 2.0, 0.5),
    ]
    records = wire(reports, started=(5, 3.0))
    assert [r[0] for r in records] == [1, 2, 3, 4]
    assert [len(r[6]) for r in records] == [1, 0, 2, 1]
    values = [outcome(r) for r in records]
    assert values[:2] == [b"first", 42] and bytes(values[2]) == b"z" * 5000
    assert values[3] == b"last"


def test_encode_result_message_header_is_the_reports_and_the_notice() -> None:
    report = rc.encode_value(1, b"v", 1.0, 2.0, 0.5)
    parts = rc.encode_result_message([report], (2, 3.0))
    assert p.load_header(parts[1]) == (((1, p.OK_RAW, 1.0, 2.0, 0.5, None, 1, None),), (2, 3.0))
    assert parts[2:] == [b"v"]


def test_with_segment_counts_the_frames_left() -> None:
    header, _ = rc.encode_value(1, pickle.PickleBuffer(b"z" * 5000), 1.0, 2.0, 0.5)
    moved, rest = rc.with_segment(header, [b"stream"], ("seg-1", (1,), (5000,)))
    assert moved == (*header[:6], 1, ("seg-1", (1,), (5000,))) and rest == [b"stream"]


def test_started_round_trip() -> None:
    parts = rc.encode_started(9, 4.5)
    assert parts[0] == p.STARTED
    assert rc.decode_started(parts[1]) == (9, 4.5)


@pytest.mark.parametrize(
    "header", [p.dump_header((9,)), p.dump_header(("9", 4.5)), p.dump_header((9, None))]
)
def test_decode_started_malformed_raises_value_error(header: bytes) -> None:
    with pytest.raises(ValueError):
        rc.decode_started(header)


@pytest.mark.parametrize(
    "parts",
    [
        [b"not msgpack"],
        [pickle.dumps(((), None))],  # a pickle is not a header
        [p.dump_header(("one field",))],
        [p.dump_header(((), None, "extra"))],
        [p.dump_header((((1, p.OK_RAW, 1.0),), None))],  # a report too short
        [p.dump_header(((), (1, 2.0, 3)))],  # a started notice of the wrong shape
        [p.dump_header((5, None))],
        [p.dump_header((((1, p.OK_RAW, 1.0, 2.0, 0.5, None, "1", None),), None)), b"a"],
        [p.dump_header(((("1", p.OK_INLINE, 1.0, 2.0, 0.5, b"x", 0, None),), None))],
        [p.dump_header((((1, p.OK_INLINE, "1.0", 2.0, 0.5, b"x", 0, None),), None))],
        [p.dump_header((((1, p.OK_INLINE, 1.0, 2.0, 0.5, b"x", -1, None),), None))],
        [p.dump_header(((), ("1", 2.0)))],
    ],
)
def test_decode_result_message_malformed_raises_value_error(parts: list[Any]) -> None:
    with pytest.raises(ValueError, match="malformed"):
        rc.decode_result_message(parts)


@pytest.mark.parametrize("frames", [[], [b"a", b"b", b"c"]])
def test_decode_result_message_frames_that_do_not_match_fail_every_report(
    frames: list[bytes],
) -> None:
    reports = (
        (1, p.OK_RAW, 1.0, 2.0, 0.5, None, 1, None),
        (2, p.RAISED, 1.0, 2.0, 0.5, None, 1, None),
    )
    records, started = rc.decode_result_message([p.dump_header((reports, (3, 2.5))), *frames])
    assert started == (3, 2.5)
    assert [r[:5] for r in records] == [
        (1, rc.UNREADABLE, 1.0, 2.0, 0.5),
        (2, rc.UNREADABLE, 1.0, 2.0, 0.5),
    ]
    for record in records:
        err, tb = outcome(record)
        assert isinstance(err, SerializationError) and tb is None
        assert str(err) == (
            "node 'node': worker w1 sent a report that cannot be read: ValueError: its frames "
            "do not match its reports"
        )


def test_decode_value_refuses_inline_value_that_is_not_bytes() -> None:
    with pytest.raises(ValueError, match="malformed inline result"):
        rc.decode_value(p.OK_INLINE, "not bytes")


def test_decode_failure_errors_survive_pickling() -> None:
    REFUSING.clear()
    raised_header, raised_frames = rc.encode_error(1, raised(RefusesToLoad("m")), 1.0, 2.0, 0.5)
    failure = rc.load_failure(raised(EOFError("truncated")), "task")
    reports = [
        (raised_header, raised_frames),
        rc.encode_bad_task(2, failure, 9.0),
        rc.encode_error(3, raised(NeedsTwo("half", "other")), 1.0, 2.0, 0.5),
    ]
    REFUSING.set()
    try:
        errors = [outcome(record)[0] for record in wire(reports)]
    finally:
        REFUSING.clear()
    errors.append(rc.unreadable("node", "w1", ValueError("bad")))
    assert [type(e) for e in errors] == [
        RemoteTaskError,
        SerializationError,
        RemoteTaskError,
        SerializationError,
    ]
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and vars(back) == vars(err)


def test_decode_failure_pickle_that_is_not_an_exception_becomes_remote_task_error() -> None:
    extra = ("Traceback ...\nX: m\n", True, "X", "m")
    err, tb = rc.decode_failure(p.RAISED, extra, [pickle.dumps(5)], "node", "w1")
    assert isinstance(err, RemoteTaskError) and (err.type_name, err.remote_message) == ("X", "m")
    assert "TypeError: a int is not an exception" in str(err) and tb == extra[0]
