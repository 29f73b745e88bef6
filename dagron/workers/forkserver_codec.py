"""The messages between a coordinator's process and its fork server, encoded and decoded
side by side.

They travel over a ``SOCK_SEQPACKET`` Unix socket pair: one message per packet, so no
framing is needed; file descriptors ride along as ``SCM_RIGHTS`` (:func:`socket.send_fds`).
Requests and replies alternate (the client sends one request at a time); exit notes come
whenever a worker ends, between them.

- **fork** (client -> server): the worker's arguments, environment, working directory and
  ``sys.path``, with the caller's stdout and stderr as two descriptors;
- **forked** (server -> client): the new worker's pid, with its pidfd as one descriptor
  (opened before the worker can be reaped, so it cannot name a reused pid);
- **failed** (server -> client): the fork could not be made, and why;
- **exited** (server -> client): a worker ended, with its ``Popen.returncode``-style code
  (negative: killed by that signal).
"""

from __future__ import annotations

import json
from typing import NamedTuple, Union

__all__ = [
    "Exited",
    "ForkFailed",
    "ForkRequest",
    "Forked",
    "Reply",
    "decode_reply",
    "decode_request",
    "encode_exited",
    "encode_failed",
    "encode_forked",
    "encode_request",
]


class ForkRequest(NamedTuple):
    """Fork a worker: run it with ``argv`` (what follows ``python -m
    dagron.workers.worker``), in ``cwd``, with ``env`` as its environment and ``path`` as its
    ``sys.path``."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    path: list[str]


class Forked(NamedTuple):
    """The worker asked for runs as ``pid`` (its pidfd came with the message)."""

    pid: int


class ForkFailed(NamedTuple):
    """No worker: the fork server could not make one."""

    error: str


class Exited(NamedTuple):
    """Worker ``pid`` ended with ``code`` (negative: killed by signal ``-code``)."""

    pid: int
    code: int


Reply = Union[Forked, ForkFailed, Exited]


def encode_request(request: ForkRequest) -> bytes:
    return json.dumps({"fork": request._asdict()}).encode()


def decode_request(data: bytes) -> ForkRequest:
    """Raises ``ValueError`` for anything but a well-formed fork request."""
    try:
        body = json.loads(data)["fork"]
        return ForkRequest(
            [str(a) for a in body["argv"]],
            {str(k): str(v) for k, v in body["env"].items()},
            str(body["cwd"]),
            [str(p) for p in body["path"]],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a fork request: {exc!r}") from None


def encode_forked(pid: int) -> bytes:
    return json.dumps({"forked": pid}).encode()


def encode_failed(error: str) -> bytes:
    return json.dumps({"failed": error}).encode()


def encode_exited(pid: int, code: int) -> bytes:
    return json.dumps({"exited": [pid, code]}).encode()


def decode_reply(data: bytes) -> Reply:
    """Raises ``ValueError`` for anything but a well-formed reply or exit note."""
    try:
        body = json.loads(data)
        if "forked" in body:
            return Forked(int(body["forked"]))
        if "failed" in body:
            return ForkFailed(str(body["failed"]))
        pid, code = body["exited"]
        return Exited(int(pid), int(code))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a fork server reply: {exc!r}") from None
