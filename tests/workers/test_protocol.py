"""The wire format's pure helpers: forwarded small results travel as their own pickles."""

from __future__ import annotations

import pickle
from typing import Any

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
    # the header that carries it is plain msgpack of str and bytes
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


def test_protocol_header_round_trips_the_types_messages_use() -> None:
    header = (1, -(2**63), 2**64 - 1, 0.5, "näme", b"\x00raw", None, True, (1, ("a", (b"",))))
    back = p.load_header(p.dump_header(header))
    assert back == header
    assert [type(x) for x in back] == [type(x) for x in header]
    # lists go out as arrays and come back as tuples
    assert p.load_header(p.dump_header(([1, [2]],))) == ((1, (2,)),)


class Planted:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (self.path, "w"))


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x91\x01\x02",  # trailing data
        b"\x81\x01\x02",  # a map, not an array
        b"\x05",  # a number, not an array
        b"\x91\xd4\x01\x00",  # an extension type
        b"\xdd\xff\xff\xff\xff",  # an array longer than the frame
        b"\x91" * 100_000,  # nested beyond any message
    ],
)
def test_protocol_load_header_refuses_malformed_frames(frame: bytes) -> None:
    with pytest.raises(ValueError):
        p.load_header(frame)


def test_protocol_load_header_never_unpickles(tmp_path: Any) -> None:
    marker = tmp_path / "planted"
    with pytest.raises(ValueError):
        p.load_header(pickle.dumps((Planted(str(marker)),)))
    assert not marker.exists()


def test_protocol_dump_header_refuses_what_msgpack_cannot_carry() -> None:
    with pytest.raises(TypeError):
        p.dump_header((object(),))


def test_protocol_forwarded_args_only_by_str_names() -> None:
    assert p.forwarded_args(({("not", "a name"): small(1)},)) is None


@pytest.mark.parametrize("value", [None, 42, "text", b"x" * (p.INLINE_BYTES + 10)])
def test_protocol_serialized_value_of_pickle_is_the_one_frame_value(value: Any) -> None:
    data = pickle.dumps(value, protocol=5)
    made, built = SerializedValue.of_pickle(data), SerializedValue([data], raw=False)
    assert made.load() == built.load() == value
    assert made.inline_pickle() == built.inline_pickle()
    assert made.nbytes == built.nbytes == len(data)
    assert pickle.loads(pickle.dumps(made, protocol=5)) == value  # forwarded as it is
    assert p.forwarded_args((made,)) == p.forwarded_args((built,))
