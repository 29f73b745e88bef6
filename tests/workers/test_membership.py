"""Membership on a running coordinator: who joins, who is refused, heartbeats answered."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import zmq

from dagron.workers import control_codec as cc
from dagron.workers import protocol as p
from dagron.workers.coordinator import Coordinator
from dagron.workers.testing import running_coordinator


@pytest.fixture
def peer() -> Iterator[zmq.Socket[bytes]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        yield sock
    finally:
        sock.close(linger=0)
        ctx.term()


def reply(c: Coordinator, sock: zmq.Socket[bytes], timeout: float = 10.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while not sock.poll(0):
        assert time.monotonic() < deadline, "no answer"
        c.wait(0.01)
    return sock.recv_multipart()


@pytest.mark.timeout(60)
def test_membership_remote_worker_joins_is_listed_and_its_heartbeat_answered(
    peer: zmq.Socket[bytes],
) -> None:
    with running_coordinator(0, listen="tcp://127.0.0.1:*", insecure=True) as c:
        peer.connect(c.address)
        peer.send_multipart(cc.encode_hello(os.getpid(), "far", "far/w1", None))
        assert reply(c, peer)[0] == p.WELCOME
        (entry,) = c.workers
        assert (entry["name"], entry["host"], entry["local"]) == ("far/w1", "far", False)
        peer.send_multipart(cc.encode_ping(b"any", "far/w1", 1.5, None))
        kind, header = reply(c, peer)
        assert kind == p.HEARTBEAT and cc.decode_pong(header)[0] == 1.5


@pytest.mark.timeout(60)
def test_membership_refuses_a_stranger_where_remote_workers_are_not_accepted(
    peer: zmq.Socket[bytes],
) -> None:
    with running_coordinator(1) as c:  # local workers only, over ipc
        peer.connect(c.address)
        peer.send_multipart(cc.encode_hello(os.getpid(), "far", "stranger", None))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            c.wait(0.05)
        assert not peer.poll(0), "a stranger was welcomed"
        assert [w["name"] for w in c.workers if not w["local"]] == []
        assert len(c.state.workers) == 1
