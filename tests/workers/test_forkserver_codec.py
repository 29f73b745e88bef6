"""Fork server messages: every one decodes to what was encoded, without sockets."""

from __future__ import annotations

import pytest

from dagron.workers import forkserver_codec as fc


def test_forkserver_codec_request_round_trips() -> None:
    request = fc.ForkRequest(["ipc:///x", "--name", "h/w0"], {"A": "1"}, "/tmp", ["/p", ""])
    assert fc.decode_request(fc.encode_request(request)) == request


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (fc.encode_forked(42), fc.Forked(42)),
        (fc.encode_failed("no memory"), fc.ForkFailed("no memory")),
        (fc.encode_exited(42, -9), fc.Exited(42, -9)),
    ],
)
def test_forkserver_codec_replies_round_trip(data: bytes, reply: fc.Reply) -> None:
    assert fc.decode_reply(data) == reply


@pytest.mark.parametrize("data", [b"", b"[]", b'{"fork": {"argv": []}}', b"\xff"])
def test_forkserver_codec_refuses_a_malformed_request(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a fork request"):
        fc.decode_request(data)


@pytest.mark.parametrize("data", [b"{}", b'{"exited": [1]}', b'{"forked": "x"}', b"nope"])
def test_forkserver_codec_refuses_a_malformed_reply(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a fork server reply"):
        fc.decode_reply(data)
