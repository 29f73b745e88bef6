"""Messages with a part larger than a keyed coordinator reads, cut into pieces and joined
again: the PIECES message.

ZeroMQ reads a whole frame before the CURVE handshake looks at it, so the only bound on what
a peer can make a coordinator hold before it has said who it is, is the largest frame the
socket accepts (``ZMQ_MAXMSGSIZE``). A coordinator with keys accepts frames up to
:data:`MAX_FRAME`; its workers send a message with a larger part (a large result, a long
traceback) as ``[PIECES, header, *pieces]``, where the header is msgpack: how many pieces
make up each part of the original message, its type frame first. The coordinator's
transport joins them before the message's handler sees it (one copy per part cut).
"""

from __future__ import annotations

from typing import Any

import zmq

from .protocol import dump_header, load_header

__all__ = ["CURVE_OVERHEAD", "MAX_FRAME", "PIECES", "cut", "join"]

PIECES = b"P"

# The largest frame a coordinator with keys reads, and so what one connection can make it
# buffer before it is authenticated. Large enough that cutting is rare and cheap per byte.
MAX_FRAME = 16 << 20
# What CURVE adds to a frame on the wire (its command name, nonce and box: a few dozen
# bytes), which ZeroMQ counts against the socket's limit; rounded up generously.
CURVE_OVERHEAD = 1 << 10


def _size(part: Any) -> int:
    return len(part) if type(part) is bytes else memoryview(_buffer(part)).nbytes


def cut(parts: list[Any], limit: int = MAX_FRAME) -> list[Any]:
    """``parts`` (a whole message, its type frame first) as a PIECES message whose frames are
    at most ``limit`` bytes; ``parts`` itself when none is larger."""
    if all(_size(part) <= limit for part in parts):
        return parts
    counts: list[int] = []
    pieces: list[Any] = []
    for part in parts:
        view = memoryview(_buffer(part)).cast("B")
        n = max(1, -(-view.nbytes // limit))
        counts.append(n)
        pieces.extend(view[i * limit : (i + 1) * limit] for i in range(n))
    return [PIECES, dump_header(tuple(counts)), *pieces]


def join(parts: list[Any], max_part: int) -> list[Any]:
    """The original message of a PIECES message's ``parts`` (after its type): its type and
    header as bytes, its payload as frames. Raises ValueError for a malformed one, another
    PIECES message inside, or a part larger than ``max_part`` bytes."""
    counts = load_header(parts[0])
    pieces = parts[1:]
    if (
        len(counts) < 2
        or not all(type(n) is int and n > 0 for n in counts)
        or sum(counts) != len(pieces)
    ):
        raise ValueError("malformed pieces")
    out: list[Any] = []
    at = 0
    for n in counts:
        group = pieces[at : at + n]
        at += n
        if sum(_size(f) for f in group) > max_part:
            raise ValueError("a part larger than the coordinator accepts")
        whole = b"".join(memoryview(_buffer(f)) for f in group)
        out.append(whole if len(out) < 2 else zmq.Frame(whole))
    if out[0] == PIECES:
        raise ValueError("pieces inside pieces")
    return out


def _buffer(frame: Any) -> Any:
    return frame.buffer if isinstance(frame, zmq.Frame) else frame
