"""The coordinator's ROUTER socket, driven by a plain DEALER peer: no coordinator, no workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import zmq

from dagron.workers import pieces
from dagron.workers import protocol as p
from dagron.workers.security import generate_keys, load_coordinator_keys, load_worker_keys
from dagron.workers.transport import Handler, RouterTransport

Received = list[tuple[bytes, list[Any]]]


@pytest.fixture
def transport(tmp_path: Path) -> Iterator[RouterTransport]:
    t = RouterTransport(f"ipc://{tmp_path}/router", curve=None, max_message_size=2**20)
    yield t
    t.close()


class Peers:
    """DEALER sockets a test connects, as workers would; all closed at the end."""

    def __init__(self) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._socks: list[zmq.Socket[bytes]] = []

    def connect(self, address: str, keys_dir: Optional[str] = None) -> zmq.Socket[bytes]:
        sock = self._ctx.socket(zmq.DEALER)
        self._socks.append(sock)
        sock.setsockopt(zmq.LINGER, 0)
        if keys_dir is not None:
            keys = load_worker_keys(keys_dir)
            sock.curve_secretkey = keys.secret
            sock.curve_publickey = keys.public
            sock.curve_serverkey = keys.server_public
        sock.connect(address)
        return sock

    def close(self) -> None:
        for sock in self._socks:
            sock.close(linger=0)
        self._ctx.term()


@pytest.fixture
def peers() -> Iterator[Peers]:
    made = Peers()
    yield made
    made.close()


def recording(into: Received, kind: bytes = b"K") -> dict[bytes, Handler]:
    return {kind: lambda ident, parts: into.append((ident, parts))}


def read_for(
    t: RouterTransport, handlers: dict[bytes, Handler], seconds: float, until: Received
) -> None:
    """Reads what arrives for up to ``seconds``, or until something was handled."""
    deadline = time.monotonic() + seconds
    while not until and time.monotonic() < deadline:
        if t.socket.poll(50):
            t.read_messages(handlers)


def test_transport_binds_and_says_where(transport: RouterTransport, tmp_path: Path) -> None:
    assert transport.address == f"ipc://{tmp_path}/router"


def test_transport_hands_header_as_bytes_and_payload_as_frames(
    transport: RouterTransport, peers: Peers
) -> None:
    peer = peers.connect(transport.address)
    peer.send_multipart([b"K", b"header", b"payload-1", b"payload-2"])
    got: Received = []
    read_for(transport, recording(got), 10, got)
    ((ident, parts),) = got
    assert type(ident) is bytes and ident
    header, *payload = parts
    assert header == b"header" and type(header) is bytes
    assert all(isinstance(f, zmq.Frame) for f in payload)
    assert [f.bytes for f in payload] == [b"payload-1", b"payload-2"]


def test_transport_drops_malformed_and_unknown_messages(
    transport: RouterTransport,
    peers: Peers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = peers.connect(transport.address)
    peer.send_multipart([b"K"])  # a type and no header
    peer.send_multipart([b"??", b"header"])  # a type nobody handles
    peer.send_multipart([b"K", b"good"])
    got: Received = []
    with caplog.at_level(logging.WARNING, logger="dagron.workers"):
        read_for(transport, recording(got), 10, got)
    assert [parts for _ident, parts in got] == [[b"good"]]  # the bad ones went nowhere
    assert "dropped a malformed message (2 frames)" in caplog.text
    assert "dropped a message of unknown type b'??'" in caplog.text


def test_transport_a_failing_handler_does_not_stop_the_reading(
    transport: RouterTransport,
    peers: Peers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(ident: bytes, parts: list[Any]) -> None:
        raise ValueError("bad header")

    got: Received = []
    handlers = {b"X": refuse, **recording(got)}
    peer = peers.connect(transport.address)
    peer.send_multipart([b"X", b"header"])
    peer.send_multipart([b"K", b"after"])
    with caplog.at_level(logging.WARNING, logger="dagron.workers"):
        read_for(transport, handlers, 10, got)
    assert [parts for _ident, parts in got] == [[b"after"]]
    assert "dropped a malformed b'X' message: bad header" in caplog.text


def test_transport_sends_to_a_peer_and_ignores_one_that_is_gone(
    transport: RouterTransport, peers: Peers
) -> None:
    peer = peers.connect(transport.address)
    peer.send_multipart([b"K", b"hello"])
    got: Received = []
    read_for(transport, recording(got), 10, got)
    ident = got[0][0]
    transport.send(ident, [b"A", b"one"])
    transport.send_if_possible(ident, [b"B", b"two"])
    assert peer.poll(10_000)
    assert peer.recv_multipart() == [b"A", b"one"]
    assert peer.recv_multipart() == [b"B", b"two"]
    # ROUTER_MANDATORY makes these fail inside; neither reaches the caller.
    transport.send(b"nobody", [b"A", b"lost"])
    transport.send_if_possible(b"nobody", [b"B", b"lost"])
    with pytest.raises(zmq.ZMQError):  # proof the failure was real, and swallowed above
        transport.socket.send_multipart([b"nobody", b"A", b"lost"])


def test_transport_with_curve_hears_only_authorized_keys(tmp_path: Path, peers: Peers) -> None:
    keys = str(generate_keys(tmp_path / "keys"))
    stranger = tmp_path / "stranger"
    generate_keys(stranger)
    # The stranger knows the coordinator's public key but presents a worker key not listed.
    (stranger / "coordinator.key").write_bytes((Path(keys) / "coordinator.key").read_bytes())
    t = RouterTransport(
        "tcp://127.0.0.1:*", curve=load_coordinator_keys(keys), max_message_size=2**20
    )
    try:
        got: Received = []
        intruder = peers.connect(t.address, str(stranger))
        intruder.send_multipart([b"K", b"from the stranger"])
        plain = peers.connect(t.address)  # no CURVE at all
        plain.send_multipart([b"K", b"in the clear"])
        read_for(t, recording(got), 1.5, got)
        assert got == []
        worker = peers.connect(t.address, keys)
        worker.send_multipart([b"K", b"from a worker"])
        read_for(t, recording(got), 10, got)
        assert [parts for _ident, parts in got] == [[b"from a worker"]]
    finally:
        t.close()


def test_transport_disconnects_a_peer_sending_too_much(tmp_path: Path, peers: Peers) -> None:
    t = RouterTransport(f"ipc://{tmp_path}/router", curve=None, max_message_size=1000)
    try:
        got: Received = []
        big = peers.connect(t.address)
        big.send_multipart([b"K", b"x" * 2000])
        read_for(t, recording(got), 1.5, got)
        assert got == []
        small = peers.connect(t.address)
        small.send_multipart([b"K", b"x" * 100])
        read_for(t, recording(got), 10, got)
        assert [parts for _ident, parts in got] == [[b"x" * 100]]
    finally:
        t.close()


def test_transport_with_curve_caps_frames_and_joins_pieces(tmp_path: Path, peers: Peers) -> None:
    keys = str(generate_keys(tmp_path / "keys"))
    t = RouterTransport(
        "tcp://127.0.0.1:*", curve=load_coordinator_keys(keys), max_message_size=2**31
    )
    try:
        got: Received = []
        assert t.socket.getsockopt(zmq.MAXMSGSIZE) == pieces.MAX_FRAME + pieces.CURVE_OVERHEAD
        worker = peers.connect(t.address, keys)
        big = bytes(range(256)) * ((pieces.MAX_FRAME + 1000) // 256)
        sent = pieces.cut([b"K", b"header", b"small", big])
        worker.send_multipart(sent, copy=False)
        read_for(t, recording(got), 30, got)
        ((_ident, parts),) = got
        assert parts[0] == b"header"
        assert [f.bytes for f in parts[1:]] == [b"small", big]
    finally:
        t.close()


def test_transport_drops_malformed_pieces(transport: RouterTransport, peers: Peers) -> None:
    got: Received = []
    peer = peers.connect(transport.address)
    peer.send_multipart([pieces.PIECES, b"\xc1", b"x"])
    peer.send_multipart([pieces.PIECES, p.dump_header((1, 5)), b"K", b"x"])
    peer.send_multipart([b"K", b"after"])
    read_for(transport, recording(got), 10, got)
    assert [parts for _ident, parts in got] == [[b"after"]]
