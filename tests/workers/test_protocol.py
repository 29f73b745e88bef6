"""The wire format's pure helpers: forwarded small results travel as their own pickles."""

from __future__ import annotations

import pickle

import pytest

from dagron.workers import protocol as p
from dagron.workers.protocol import SerializedValue


def small(value: object) -> SerializedValue:
    """A result as the coordinator holds a small one: its pickle, in the header."""
    return SerializedValue([pickle.dumps(value, protocol=5)], raw=False)


def test_protocol_forwarded_args_by_name_round_trip() -> None:
    args = ({"a": small(1), "b": small([2, "x"])},)
    form = p.forwarded_args(args)
    assert form is not None
    names, pickles = form
    assert names == ("a", "b") and all(type(b) is bytes for b in pickles)
    assert p.load_forwarded(form) == ({"a": 1, "b": [2, "x"]},)
    # the header that carries it is an ordinary pickle of str and bytes
    assert p.load_forwarded(p.load_header(p.dump_header(form))) == ({"a": 1, "b": [2, "x"]},)


def test_protocol_forwarded_args_positional_round_trip() -> None:
    form = p.forwarded_args((small("x"), small(None)))
    assert form is not None and form[0] is None
    assert p.load_forwarded(form) == ("x", None)


def test_protocol_forwarded_args_only_for_small_serialized_values() -> None:
    big = SerializedValue([pickle.dumps(b"x" * (p.INLINE_BYTES + 1))], raw=False)
    raw = SerializedValue([b"raw bytes"], raw=True)
    split = SerializedValue([b"stream", b"buffer"], raw=False)
    for args in [
        (),
        (1,),
        ({"a": 1},),
        ({"a": small(1), "b": big},),
        (small(1), raw),
        (split,),
    ]:
        assert p.forwarded_args(args) is None, args


def test_protocol_load_forwarded_refuses_mismatched_names() -> None:
    with pytest.raises(ValueError, match="malformed"):
        p.load_forwarded((("a", "b"), (pickle.dumps(1),)))


def test_protocol_forget_message_round_trip() -> None:
    kind, header = p.forget_message((3, 9))
    assert kind == p.FORGET
    assert p.load_forget(header) == (3, 9)
    assert p.load_forget(p.dump_header((1, "x", 2.0))) == (1,)  # only ids are taken
