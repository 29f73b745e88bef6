"""The control messages round-trip without sockets, and their decoders refuse anything of
the wrong shape or type (what an unknown peer might send)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from dagron.workers import control_codec as cc
from dagron.workers import protocol as p


def test_control_codec_hello_round_trip() -> None:
    kind, header = cc.encode_hello(42, "host", "host/0", (0.25, 0.001))
    assert kind == p.HELLO
    assert cc.decode_hello(header) == (42, "host", "host/0", (0.25, 0.001))
    assert cc.decode_hello(cc.encode_hello(1, "h", "n", None)[1]) == (1, "h", "n", None)


@pytest.mark.parametrize(
    "fields",
    [
        (99, 1, "h", "n", None),  # another protocol
        (),
        (p.PROTOCOL_VERSION, 1, "h", "n"),
        (p.PROTOCOL_VERSION, "1", "h", "n", None),
        (p.PROTOCOL_VERSION, 1, b"h", "n", None),
        (p.PROTOCOL_VERSION, 1, "h", 7, None),
        (p.PROTOCOL_VERSION, 1, "h", "n", ("not", "numbers")),
        (p.PROTOCOL_VERSION, 1, "h", "n", (1.0,)),
    ],
)
def test_control_codec_decode_hello_refuses_malformed(fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        cc.decode_hello(p.dump_header(fields))


def test_control_codec_ping_and_pong_round_trip() -> None:
    kind, header = cc.encode_ping(b"w1", "host/1", 12.5, None)
    assert kind == p.HEARTBEAT and cc.decode_ping(header) == (b"w1", 12.5, None)
    kind, header = cc.encode_pong(12.5, 99.0)
    assert kind == p.HEARTBEAT and cc.decode_pong(header) == (12.5, 99.0)


@pytest.mark.parametrize(
    "fields",
    [
        ("w1", "n", 1.0, None),
        (b"w1", "n", "1.0", None),
        (b"w1", "n", 1.0, ("a", 1)),
        (b"w1", "n", 1.0),
    ],
)
def test_control_codec_decode_ping_refuses_malformed(fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        cc.decode_ping(p.dump_header(fields))


def test_control_codec_memory_round_trip_and_refusals() -> None:
    kind, header = cc.encode_memory(b"w1", 3 << 30, 2 << 30)
    assert kind == p.MEMORY and cc.decode_memory(header) == (b"w1", 3 << 30, 2 << 30)
    for fields in [(b"w1", 1.5, 2), ("w1", 1, 2), (b"w1", 1)]:
        with pytest.raises(ValueError):
            cc.decode_memory(p.dump_header(fields))


def test_control_codec_output_round_trip_and_refusals() -> None:
    chunks = [(3, "stdout", "hi\n"), (None, "log", (20, "app", "done"))]
    kind, header = cc.encode_output(b"w1", chunks)
    assert kind == p.OUTPUT
    assert cc.decode_output(header) == (b"w1", tuple(chunks))
    for bad in [
        (b"w1", "not chunks"),
        (b"w1", ((3, "stdout"),)),
        (b"w1", (("3", "stdout", "x"),)),
        (b"w1", ((3, "stdout", b"bytes"),)),
        (b"w1", ((3, "log", (20, "app")),)),
        (b"w1", ((3, "log", ("20", "app", "m")),)),
    ]:
        with pytest.raises(ValueError):
            cc.decode_output(p.dump_header(bad))


def test_control_codec_cancel_round_trip_and_the_bare_messages() -> None:
    kind, header = cc.encode_cancel(7)
    assert kind == p.CANCEL and cc.decode_cancel(header) == 7
    with pytest.raises(ValueError):
        cc.decode_cancel(p.dump_header(("7",)))
    assert cc.welcome_message()[0] == p.WELCOME
    assert p.load_header(cc.welcome_message()[1]) == (p.PROTOCOL_VERSION,)
    assert cc.shutdown_message()[0] == p.SHUTDOWN and cc.rejoin_message()[0] == p.REJOIN
    assert p.load_header(cc.shutdown_message()[1]) == p.load_header(cc.rejoin_message()[1]) == ()


def test_control_codec_vouch_round_trip_and_refusals() -> None:
    kind, header = cc.encode_vouch("host/7", (b"wa", b"wb"), (b"wb",))
    assert kind == p.VOUCH and cc.decode_vouch(header) == ("host/7", (b"wa", b"wb"), (b"wb",))
    assert cc.decode_vouch(cc.encode_vouch("h", (), ())[1]) == ("h", (), ())
    assert cc.vouch_answer()[0] == p.VOUCH and p.load_header(cc.vouch_answer()[1]) == ()
    for fields in [
        ("h", b"w", ()),
        ("h", ("w",), ()),
        ("h", (b"w",), ("w",)),
        (b"h", (b"w",), ()),
        ("h", (b"w",)),
        ("h", (b"w",), (), 1),
    ]:
        with pytest.raises(ValueError):
            cc.decode_vouch(p.dump_header(fields))


def test_control_codec_kill_round_trip_and_refusals() -> None:
    kind, header = cc.encode_kill(b"wa", "task 3 abandoned")
    assert kind == p.KILL and cc.decode_kill(header) == (b"wa", "task 3 abandoned")
    for fields in [("wa", "r"), (b"wa", b"r"), (b"wa",)]:
        with pytest.raises(ValueError):
            cc.decode_kill(p.dump_header(fields))


def test_control_codec_decoders_refuse_pickles() -> None:
    for decode in (
        cc.decode_hello,
        cc.decode_ping,
        cc.decode_memory,
        cc.decode_output,
        cc.decode_vouch,
    ):
        with pytest.raises(ValueError):
            decode(pickle.dumps((p.PROTOCOL_VERSION, 1, "h", "n", None)))
