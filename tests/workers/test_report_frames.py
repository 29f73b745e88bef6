"""Reports whose outcome travelled in frames, turned into completions (no segments here:
the shared-memory path runs with real workers in test_coordinator.py)."""

from __future__ import annotations

import zmq

from dagron.backends.base import Failed, Succeeded
from dagron.workers import protocol as p
from dagron.workers import results_codec as rc
from dagron.workers.report_frames import from_frames


def wire(encoded: rc.Encoded) -> rc.Report:
    """One report sent in a RESULT message and decoded as the coordinator does."""
    parts = rc.encode_result_message([encoded], None)
    (report,), _ = rc.decode_result_message([zmq.Frame(bytes(memoryview(x))) for x in parts[1:]])
    return report


def test_from_frames_a_pickled_value_succeeds_with_the_report_times() -> None:
    report = wire(rc.encode_value(3, list(range(10_000)), 1.0, 2.0, 0.5))
    assert report[1] == p.OK_PICKLED
    done = from_frames(report, 11.0, 12.0, "w1", "node", None)
    assert isinstance(done, Succeeded)
    assert (done.key, done.started_at, done.finished_at, done.duration, done.worker) == (
        3,
        11.0,
        12.0,
        0.5,
        "w1",
    )
    assert done.value.load() == list(range(10_000))


def test_from_frames_a_raised_error_fails_with_its_type_and_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        report = wire(rc.encode_error(4, exc, 1.0, 2.0, 1.0))
    done = from_frames(report, 1.0, 2.0, "w2", "lookup", None)
    assert isinstance(done, Failed) and done.key == 4 and done.worker == "w2"
    assert isinstance(done.error, KeyError) and "missing" in str(done.error)
    assert done.traceback is not None and "KeyError" in done.traceback
