"""The worker's report outbox, without sockets: what it sends on flush, when it says reports
are due (on an explicit clock), and which frames go into shared-memory segments."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any, cast

import zmq

from dagron.workers import pieces, shm
from dagron.workers import protocol as p
from dagron.workers import results_codec as rc
from dagron.workers.report_outbox import REPORT_AGE, REPORT_BYTES, REPORTS_PER_QUEUED, ReportOutbox

IDENTITY = b"w0123abcd"


class FakeSocket:
    """Collects what ``protocol.send_parts`` sends, one list of parts per message."""

    def __init__(self) -> None:
        self.messages: list[list[Any]] = []
        self._parts: list[Any] = []

    def send(self, part: Any, flags: int = 0, copy: bool = True) -> None:
        self._parts.append(part)
        if not flags & zmq.SNDMORE:
            self.messages.append(self._parts)
            self._parts = []


class Clock:
    """A monotonic clock the test sets."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def outbox(
    queued: int = 0, shm_dir: str | None = None
) -> tuple[ReportOutbox, FakeSocket, deque[Any], Clock]:
    sock, queue, clock = FakeSocket(), deque(range(queued)), Clock()
    box = ReportOutbox(cast(zmq.Socket[bytes], sock), queue, IDENTITY, shm_dir, clock)
    return box, sock, queue, clock


def small(key: int) -> rc.Encoded:
    return rc.encode_value(key, key * 10, 1.0, 2.0, 1.0)


def received(message: list[Any]) -> tuple[list[rc.Report], Any]:
    assert message[0] == p.RESULT
    return rc.decode_result_message([bytes(memoryview(part)) for part in message[1:]])


def test_report_outbox_flush_sends_all_waiting_reports_and_the_notice_as_one_message() -> None:
    box, sock, _, _ = outbox()
    box.add(small(1))
    box.add(rc.encode_value(2, b"payload", 1.0, 2.0, 1.0))
    box.flush((3, 2.5))
    assert len(sock.messages) == 1
    records, started = received(sock.messages[0])
    assert started == (3, 2.5)
    assert [r[0] for r in records] == [1, 2]
    assert records[1][6] == [b"payload"]
    assert box.reports == [] and box.nbytes == 0
    box.flush()
    assert len(sock.messages) == 1, "an empty outbox sends nothing"


def test_report_outbox_flush_with_nothing_waiting_sends_the_started_notice_alone() -> None:
    box, sock, _, _ = outbox()
    box.flush((7, 4.0))
    assert sock.messages == [rc.encode_started(7, 4.0)]


def test_report_outbox_due_once_reports_wait_for_three_times_the_tasks_queued() -> None:
    assert REPORTS_PER_QUEUED == 3
    box, _, queue, _ = outbox(queued=1)
    assert not box.due(), "nothing waits"
    box.add(small(1))
    box.add(small(2))
    assert not box.due()
    box.add(small(3))
    assert box.due()
    queue.append("another task")  # the queue is read live, not copied
    assert not box.due()


def test_report_outbox_due_once_the_oldest_report_is_report_age_old() -> None:
    box, _, _, clock = outbox(queued=5)
    box.add(small(1))
    clock.t += REPORT_AGE / 2
    box.add(small(2))  # the age counts from the oldest
    clock.t += REPORT_AGE / 2 - 1e-9
    assert not box.due()
    clock.t += 2e-9
    assert box.due()
    box.flush()
    box.add(small(3))  # a new batch starts its own age
    assert not box.due()


def test_report_outbox_due_once_report_bytes_wait() -> None:
    box, _, _, _ = outbox(queued=5)
    box.add(rc.encode_value(1, b"x" * (REPORT_BYTES - 1), 1.0, 2.0, 1.0))
    assert box.nbytes == REPORT_BYTES - 1 and not box.due()
    box.add(rc.encode_value(2, b"y", 1.0, 2.0, 1.0))
    assert box.due()


def test_report_outbox_moves_large_frames_into_a_segment(tmp_path: Path) -> None:
    box, sock, _, _ = outbox(shm_dir=str(tmp_path))
    big = bytes(range(256)) * (shm.MIN_BYTES // 256)
    box.add(rc.encode_value(1, b"small", 1.0, 2.0, 1.0))
    box.add(rc.encode_value(2, big, 1.0, 2.0, 1.0))
    assert box.nbytes == len(b"small"), "a segment's bytes do not count towards REPORT_BYTES"
    box.flush()
    records, _ = received(sock.messages[0])
    assert records[0][6] == [b"small"] and records[0][7] is None
    name, indices, sizes = cast(rc.SegmentRef, records[1][7])
    assert name == f"{IDENTITY.decode()}-1" and indices == (0,) and sizes == (len(big),)
    assert records[1][6] == []
    with open(os.path.join(tmp_path, name), "rb") as f:
        assert f.read(len(big)) == big


def test_report_outbox_keeps_large_frames_when_the_segment_cannot_be_written(
    tmp_path: Path,
) -> None:
    box, sock, _, _ = outbox(shm_dir=str(tmp_path / "gone"))
    big = b"z" * shm.MIN_BYTES
    box.add(rc.encode_value(1, big, 1.0, 2.0, 1.0))
    box.flush()
    records, _ = received(sock.messages[0])
    assert records[0][6] == [big] and records[0][7] is None


def test_report_outbox_without_a_segment_directory_sends_everything_as_frames() -> None:
    box, sock, _, _ = outbox()
    big = b"z" * shm.MIN_BYTES
    box.add(rc.encode_value(1, big, 1.0, 2.0, 1.0))
    assert box.nbytes == len(big)
    box.flush()
    records, _ = received(sock.messages[0])
    assert records[0][6] == [big] and records[0][7] is None


def test_report_outbox_sends_parts_over_max_frame_in_pieces() -> None:
    sock, queue = FakeSocket(), deque[Any]()
    box = ReportOutbox(cast(zmq.Socket[bytes], sock), queue, IDENTITY, max_frame=100)
    box.add(rc.encode_value(1, b"v" * 250, 1.0, 2.0, 0.5))
    box.add(small(2))
    box.flush()
    (message,) = sock.messages
    assert message[0] == pieces.PIECES
    assert all(memoryview(part).nbytes <= 100 for part in message[2:])
    whole = pieces.join([bytes(memoryview(part)) for part in message[1:]], max_part=1 << 20)
    reports, _ = received([whole[0], whole[1], *(f.bytes for f in whole[2:])])
    assert [r[0] for r in reports] == [1, 2]
    assert bytes(reports[0][6][0]) == b"v" * 250


def test_report_outbox_without_max_frame_never_cuts() -> None:
    box, sock, _, _ = outbox()
    box.add(rc.encode_value(1, b"v" * (1 << 20), 1.0, 2.0, 0.5))
    box.flush()
    assert sock.messages[0][0] == p.RESULT
