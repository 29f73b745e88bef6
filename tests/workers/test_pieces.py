"""Parts larger than a keyed coordinator reads travel in pieces and come back whole."""

from __future__ import annotations

from typing import Any

import pytest
import zmq

from dagron.workers import pieces
from dagron.workers import protocol as p


def as_received(parts: list[Any]) -> list[Any]:
    """``parts`` as the transport hands them over: type and header bytes, the rest frames."""
    return [bytes(parts[0]), bytes(parts[1]), *(zmq.Frame(bytes(f)) for f in parts[2:])]


def test_pieces_cut_leaves_small_messages_alone() -> None:
    parts = [p.RESULT, b"header", b"x" * 100]
    assert pieces.cut(parts, limit=100) is parts


def test_pieces_round_trip_every_part_no_piece_over_the_limit() -> None:
    header = b"h" * 25
    big = bytes(range(256)) * 10
    parts = [p.RESULT, header, b"small", memoryview(big), zmq.Frame(b"f" * 11)]
    sent = pieces.cut(parts, limit=10)
    assert sent[0] == pieces.PIECES
    assert all(memoryview(f).nbytes <= 10 for f in sent[2:])
    back = pieces.join(as_received(sent)[1:], max_part=1 << 20)
    assert back[:2] == [p.RESULT, header]
    assert [f.bytes for f in back[2:]] == [b"small", big, b"f" * 11]


@pytest.mark.parametrize(
    "counts, n_pieces",
    [((1,), 1), ((1, 0), 1), ((1, 2), 2), ((1, "1"), 2), ((), 0)],
)
def test_pieces_join_refuses_malformed(counts: tuple[Any, ...], n_pieces: int) -> None:
    with pytest.raises(ValueError):
        pieces.join([p.dump_header(counts), *[b"x"] * n_pieces], max_part=1 << 20)


def test_pieces_join_refuses_nesting_and_oversized_parts() -> None:
    nested = pieces.cut([pieces.PIECES, b"h" * 20], limit=10)
    with pytest.raises(ValueError, match="inside"):
        pieces.join(as_received(nested)[1:], max_part=1 << 20)
    big = pieces.cut([p.RESULT, b"h", b"x" * 100], limit=10)
    with pytest.raises(ValueError, match="larger"):
        pieces.join(as_received(big)[1:], max_part=50)
