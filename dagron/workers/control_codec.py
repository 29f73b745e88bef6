"""The control messages, encoded and decoded side by side (layout in
:mod:`dagron.workers.protocol`): HELLO, WELCOME, HEARTBEAT both ways, MEMORY, OUTPUT,
CANCEL, SHUTDOWN and REJOIN; a host's nanny's VOUCH, and KILL for it.

A coordinator reads HELLO, HEARTBEAT, MEMORY, OUTPUT and VOUCH from peers it may not know yet, so
their decoders check every field's shape and type: anything else raises ValueError, and the
caller drops the message. Headers are msgpack (see :func:`~dagron.workers.protocol.
load_header`), so reading one never runs code.
"""

from __future__ import annotations

from typing import Any, Optional

from .output import Chunk
from .protocol import (
    CANCEL,
    HEARTBEAT,
    HELLO,
    KILL,
    MEMORY,
    OUTPUT,
    PROTOCOL_VERSION,
    REJOIN,
    SHUTDOWN,
    VOUCH,
    WELCOME,
    dump_header,
    load_header,
)

__all__ = [
    "Clock",
    "Hello",
    "decode_cancel",
    "decode_hello",
    "decode_kill",
    "decode_memory",
    "decode_output",
    "decode_ping",
    "decode_pong",
    "decode_vouch",
    "encode_cancel",
    "encode_hello",
    "encode_kill",
    "encode_memory",
    "encode_output",
    "encode_ping",
    "encode_pong",
    "encode_vouch",
    "rejoin_message",
    "shutdown_message",
    "vouch_answer",
    "welcome_message",
]

# A worker's clock offset from the coordinator's and its error, or None: not measured yet.
Clock = Optional[tuple[float, float]]
# (pid, host, name, clock) of a worker saying hello.
Hello = tuple[int, str, str, Clock]


def _int(x: Any) -> bool:
    return type(x) is int


def _number(x: Any) -> bool:
    return type(x) is float or type(x) is int


def _fields(frame: Any, n: int, what: str) -> tuple[Any, ...]:
    header = load_header(frame)
    if len(header) != n:
        raise ValueError(f"malformed {what}: {len(header)} fields, not {n}")
    return header


def _clock(x: Any) -> Clock:
    if x is None:
        return None
    if type(x) is tuple and len(x) == 2 and _number(x[0]) and _number(x[1]):
        return (float(x[0]), float(x[1]))
    raise ValueError("malformed clock offset")


# ----- worker -> coordinator ---------------------------------------------------------------


def encode_hello(pid: int, host: str, name: str, clock: Clock) -> list[bytes]:
    """A worker's HELLO: who it is, and its clock offset if measured."""
    return [HELLO, dump_header((PROTOCOL_VERSION, pid, host, name, clock))]


def decode_hello(frame: Any) -> Hello:
    """A HELLO header's ``(pid, host, name, clock)``; ValueError for another protocol
    version or a field of the wrong type."""
    header = load_header(frame)
    if not header or header[0] != PROTOCOL_VERSION:
        version = header[0] if header else None
        raise ValueError(f"a hello in protocol {version!r}, not {PROTOCOL_VERSION}")
    if len(header) != 5:
        raise ValueError("malformed hello")
    _, pid, host, name, clock = header
    if not (_int(pid) and type(host) is str and type(name) is str):
        raise ValueError("malformed hello")
    return pid, host, name, _clock(clock)


def encode_ping(identity: bytes, name: str, sent: float, clock: Clock) -> list[bytes]:
    """A worker's HEARTBEAT: its task socket's identity, its name, its clock reading."""
    return [HEARTBEAT, dump_header((identity, name, sent, clock))]


def decode_ping(frame: Any) -> tuple[bytes, float, Clock]:
    """A worker's HEARTBEAT header as ``(identity, sent, clock)``."""
    identity, name, sent, clock = _fields(frame, 4, "heartbeat")
    if type(identity) is not bytes or type(name) is not str or type(sent) is not float:
        raise ValueError("malformed heartbeat")
    return identity, sent, _clock(clock)


def encode_memory(identity: bytes, rss: int, limit: int) -> list[bytes]:
    """A worker's MEMORY note: it used ``rss`` bytes, over ``limit``, and leaves."""
    return [MEMORY, dump_header((identity, rss, limit))]


def decode_memory(frame: Any) -> tuple[bytes, int, int]:
    identity, rss, limit = _fields(frame, 3, "memory note")
    if type(identity) is not bytes or not (_int(rss) and _int(limit)):
        raise ValueError("malformed memory note")
    return identity, rss, limit


def encode_output(identity: bytes, chunks: list[Chunk]) -> list[bytes]:
    """A worker's OUTPUT: what its tasks printed (``stream`` a name, text) or logged
    (``stream`` "log", ``(level, logger, message)``)."""
    return [OUTPUT, dump_header((identity, chunks))]


def decode_output(frame: Any) -> tuple[bytes, tuple[Chunk, ...]]:
    identity, chunks = _fields(frame, 2, "output")
    if type(identity) is not bytes or type(chunks) is not tuple:
        raise ValueError("malformed output")
    for chunk in chunks:
        if type(chunk) is not tuple or len(chunk) != 3:
            raise ValueError("malformed output chunk")
        key, stream, payload = chunk
        if not (key is None or _int(key)) or type(stream) is not str:
            raise ValueError("malformed output chunk")
        if stream == "log":
            if not (
                type(payload) is tuple
                and len(payload) == 3
                and _int(payload[0])
                and type(payload[1]) is str
                and type(payload[2]) is str
            ):
                raise ValueError("malformed log record")
        elif type(payload) is not str:
            raise ValueError("malformed output text")
    return identity, chunks


# ----- nanny <-> coordinator ---------------------------------------------------------------


def encode_vouch(name: str, workers: tuple[bytes, ...], busy: tuple[bytes, ...]) -> list[bytes]:
    """A nanny's VOUCH: its live ``workers`` (task socket identities), and those of them
    that are ``busy`` (using CPU time)."""
    return [VOUCH, dump_header((name, workers, busy))]


def decode_vouch(frame: Any) -> tuple[str, tuple[bytes, ...], tuple[bytes, ...]]:
    """A VOUCH header as ``(nanny name, workers, busy)``."""
    name, workers, busy = _fields(frame, 3, "vouch")
    if type(name) is not str or type(workers) is not tuple or type(busy) is not tuple:
        raise ValueError("malformed vouch")
    if not all(type(w) is bytes for w in workers + busy):
        raise ValueError("malformed vouch")
    return name, workers, busy


def vouch_answer() -> list[bytes]:
    """The coordinator's answer to a VOUCH: it lives (the nanny's sign of it)."""
    return [VOUCH, dump_header(())]


def encode_kill(worker: bytes, reason: str) -> list[bytes]:
    """KILL, to a nanny: kill ``worker`` (its task socket identity), saying ``reason``."""
    return [KILL, dump_header((worker, reason))]


def decode_kill(frame: Any) -> tuple[bytes, str]:
    worker, reason = _fields(frame, 2, "kill order")
    if type(worker) is not bytes or type(reason) is not str:
        raise ValueError("malformed kill order")
    return worker, reason


# ----- coordinator -> worker ---------------------------------------------------------------


def welcome_message() -> list[bytes]:
    """WELCOME: the coordinator took the worker in."""
    return [WELCOME, dump_header((PROTOCOL_VERSION,))]


def encode_pong(sent: float, now: float) -> list[bytes]:
    """The answer to a ping: its ``sent`` and the coordinator's clock reading ``now``."""
    return [HEARTBEAT, dump_header((sent, now))]


def decode_pong(frame: Any) -> tuple[float, float]:
    sent, now = _fields(frame, 2, "heartbeat answer")
    if type(sent) is not float or type(now) is not float:
        raise ValueError("malformed heartbeat answer")
    return sent, now


def encode_cancel(key: int) -> list[bytes]:
    """CANCEL: drop task ``key`` if it has not started."""
    return [CANCEL, dump_header((key,))]


def decode_cancel(frame: Any) -> int:
    (key,) = _fields(frame, 1, "cancel")
    if not _int(key):
        raise ValueError("malformed cancel")
    return key


def shutdown_message() -> list[bytes]:
    """SHUTDOWN: the worker is to exit."""
    return [SHUTDOWN, dump_header(())]


def rejoin_message() -> list[bytes]:
    """REJOIN: the coordinator does not know the worker (any more); it says hello again."""
    return [REJOIN, dump_header(())]
