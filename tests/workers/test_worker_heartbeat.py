"""The worker's heartbeat link, without sockets or threads: what a ping carries, how answers
move the clock correction, and how the clock-sync burst stops."""

from __future__ import annotations

import pickle
from typing import Any, Optional, cast

import zmq

from dagron.workers import protocol as p
from dagron.workers.output import OutputBuffer
from dagron.workers.watchdog import OutputForwarder
from dagron.workers.worker_heartbeat import SYNC_BURST, HeartbeatLink, send_or_drop, ship_output

IDENTITY = b"w0123abcd"
SKEW = 50.0  # seconds this host's clock runs ahead of the coordinator's


class Clock:
    """This host's clock, as the test sets it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Coordinator:
    """A heartbeat socket whose coordinator answers every ping (when ``answers``), reading
    its clock ``SKEW`` behind the worker's, after a round trip of ``trip`` seconds."""

    def __init__(self, clock: Clock, answers: bool = True, trip: float = 0.002) -> None:
        self.clock, self.answers, self.trip = clock, answers, trip
        self.sent: list[list[bytes]] = []
        self.pending: list[list[bytes]] = []

    def send_multipart(self, parts: list[bytes], flags: int = 0) -> None:
        assert flags & zmq.NOBLOCK, "a heartbeat send must never block"
        self.sent.append(parts)
        if self.answers and parts[0] == p.HEARTBEAT:
            sent = p.load_header(parts[1])[2]
            remote = self.clock.t + self.trip / 2 - SKEW
            self.pending.append([p.HEARTBEAT, p.dump_header((sent, remote))])

    def poll(self, timeout: Optional[int] = None) -> int:
        return int(bool(self.pending))

    def recv_multipart(self) -> list[bytes]:
        self.clock.t += self.trip
        return self.pending.pop(0)


def link(clock: Clock) -> HeartbeatLink:
    return HeartbeatLink(IDENTITY, "host/1", "tcp://coordinator:1", clock)


def as_socket(sock: Any) -> zmq.Socket[bytes]:
    return cast(zmq.Socket[bytes], sock)


def test_heartbeat_link_ping_carries_identity_name_clock_and_offset() -> None:
    clock = Clock()
    beats, sock = link(clock), Coordinator(clock, answers=False)
    beats.ping(as_socket(sock))
    assert sock.sent[0][0] == p.HEARTBEAT
    assert p.load_header(sock.sent[0][1]) == (IDENTITY, "host/1", 1000.0, None)


def test_heartbeat_link_answers_move_now_onto_the_coordinator_clock() -> None:
    clock = Clock()
    beats, sock = link(clock), Coordinator(clock)
    assert beats.now() == clock.t, "no answer yet: no correction"
    beats.sync_burst(as_socket(sock))
    assert len(sock.sent) == SYNC_BURST
    assert abs(beats.correction - SKEW) < 1e-9
    assert abs(beats.now() - (clock.t - SKEW)) < 1e-9
    offset = beats.offset()
    assert offset is not None and abs(offset[0] - SKEW) < 1e-9 and offset[1] <= 0.001 + 1e-9
    beats.ping(as_socket(sock))  # later pings report the measured offset
    assert p.load_header(sock.sent[-1][1])[3] == offset


def test_heartbeat_link_sync_burst_stops_at_the_first_unanswered_ping() -> None:
    clock = Clock()
    beats, sock = link(clock), Coordinator(clock, answers=False)
    beats.sync_burst(as_socket(sock))
    assert len(sock.sent) == 1
    assert beats.offset() is None and beats.correction == 0.0


def test_heartbeat_link_ignores_malformed_answers() -> None:
    clock = Clock()
    beats = link(clock)
    for frames in (
        [p.HEARTBEAT],
        [p.MEMORY, p.dump_header((1.0, 2.0))],
        [p.HEARTBEAT, b"not msgpack\xc1"],
        [p.HEARTBEAT, pickle.dumps((1.0, 2.0))],
        [p.HEARTBEAT, p.dump_header(("1.0", 2.0))],
    ):
        beats.on_pong(frames)
    assert beats.offset() is None and beats.now() == clock.t


def test_ship_output_sends_what_was_printed_once_and_nothing_without_a_forwarder() -> None:
    sock = Coordinator(Clock(), answers=False)
    ship_output(None, as_socket(sock))
    assert sock.sent == []
    buffer = OutputBuffer()
    forwarder = OutputForwarder(buffer, IDENTITY)
    ship_output(forwarder, as_socket(sock))
    assert sock.sent == [], "nothing printed: nothing sent"
    buffer.add("stdout", "hello\n")
    ship_output(forwarder, as_socket(sock))
    ship_output(forwarder, as_socket(sock))
    assert len(sock.sent) == 1 and sock.sent[0][0] == p.OUTPUT
    identity, chunks = p.load_header(sock.sent[0][1])
    assert identity == IDENTITY and [c[1:] for c in chunks] == [("stdout", "hello\n")]


def test_send_or_drop_drops_when_the_socket_has_no_connection() -> None:
    # What a refused key leaves: a DEALER with no connection at all, where a blocking send
    # would wait forever (and the death timeout with it).
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        assert send_or_drop(sock, [p.HEARTBEAT, b"\x90"]) is False
    finally:
        sock.close(linger=0)
        ctx.term()
