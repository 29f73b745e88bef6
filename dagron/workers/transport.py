"""The coordinator's end of the wire: one ZeroMQ ROUTER socket, optionally behind CURVE.

:class:`RouterTransport` binds the socket, sends to a peer by its identity and reads every
message waiting. It never unpickles anything: each message is handed, as bytes and frames,
to the handler registered for its type, and what the handler makes of it is the caller's
business. With CURVE keys, ZeroMQ's authenticator admits only the listed public keys, so
nothing an unknown peer sends ever reaches a handler.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import zmq

from ..node_result import error_message
from . import protocol as p
from .pieces import CURVE_OVERHEAD, MAX_FRAME, PIECES, join
from .security import CoordinatorKeys

__all__ = ["Handler", "RouterTransport"]

log = logging.getLogger("dagron.workers")

# A message's handler: called with the sender's identity and the parts after the type
# (the header as bytes, then payload frames).
Handler = Callable[[bytes, list[Any]], None]

_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)


class RouterTransport:
    """A bound ROUTER socket: ``send`` to a peer's identity, ``read_messages`` to dispatch
    what came in, ``close`` at the end. ``curve`` makes it a CURVE server that admits only
    ``curve.authorized`` keys; ``max_message_size`` disconnects a peer sending a larger
    frame, and caps a message's part sent in pieces; with ``curve``, frames are capped at
    :data:`~dagron.workers.pieces.MAX_FRAME`."""

    def __init__(
        self, endpoint: str, *, curve: Optional[CoordinatorKeys], max_message_size: int
    ) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._auth: Optional[Any] = None
        self.socket = self._ctx.socket(zmq.ROUTER)
        try:
            self.address: str = self._bind(endpoint, curve, max_message_size)
        except BaseException:  # an address in use, say: the context's threads and fds go too
            self.close()
            raise

    def _bind(self, endpoint: str, curve: Optional[CoordinatorKeys], max_message_size: int) -> str:
        sock = self.socket
        # Refuse to drop: a send to a peer that is gone raises instead of vanishing, and no
        # high-water mark silently discards messages (prefetch credit bounds what is queued).
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, 0)
        # A peer sending a frame larger than this is disconnected by ZeroMQ. With keys, frames
        # are capped lower: ZeroMQ reads a whole frame before the handshake has said who sent
        # it, so this is what bounds an unauthenticated connection's memory here. Workers
        # send larger parts in pieces (see pieces.py), joined up to max_message_size.
        self._max_part = max_message_size
        if curve is not None:
            max_message_size = min(max_message_size, MAX_FRAME + CURVE_OVERHEAD)
        sock.setsockopt(zmq.MAXMSGSIZE, max_message_size)
        if curve is not None:
            from zmq.auth.thread import ThreadAuthenticator

            self._auth = ThreadAuthenticator(self._ctx, log=logging.getLogger("dagron.auth"))
            self._auth.start()
            self._auth.configure_curve_callback("*", _AllowKeys(curve.authorized))
            sock.curve_server = True
            sock.curve_secretkey = curve.secret
            sock.curve_publickey = curve.public
        sock.bind(endpoint)
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def send(self, ident: bytes, frames: list[Any]) -> None:
        """Sends ``frames`` to the peer ``ident``; a peer that is gone is ignored."""
        try:
            p.send_parts(self.socket, [ident, *frames])
        except zmq.ZMQError:
            # The peer is gone; its exit notification will account for its tasks.
            pass

    def send_if_possible(self, ident: bytes, frames: list[Any]) -> None:
        """Sends without ever blocking (when shutting down), dropping what cannot go now."""
        try:
            self.socket.send_multipart([ident, *frames], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def read_messages(self, handlers: dict[bytes, Handler]) -> None:
        """Reads every message waiting and passes each to the handler for its type.
        Malformed messages, unknown types and handlers' exceptions are logged and dropped."""
        # Part by part rather than recv_multipart: identity, type and header arrive as bytes
        # (cheaper than frame objects for small parts); payload parts stay zero-copy frames.
        sock = self.socket
        while True:
            try:
                ident = sock.recv(_NOBLOCK)
            except zmq.Again:
                return
            parts: list[Any] = []
            while sock.get(_RCVMORE):
                parts.append(sock.recv() if len(parts) < 2 else sock.recv(copy=False))
            if len(parts) < 2:
                log.warning("dropped a malformed message (%d frames)", len(parts) + 1)
                continue
            kind = parts[0]
            handler = handlers.get(kind)
            if handler is None and kind == PIECES:
                try:
                    parts = join(parts[1:], self._max_part)
                except Exception as exc:  # malformed or hostile: like any bad message
                    log.warning("dropped a malformed message in pieces: %s", exc)
                    continue
                kind = parts[0]
                handler = handlers.get(kind)
            if handler is None:
                log.warning("dropped a message of unknown type %r", kind[:8])
                continue
            try:
                handler(ident, parts[1:])
            except Exception as exc:  # malformed or hostile frames never stop a run
                log.warning("dropped a malformed %r message: %s", kind[:8], error_message(exc))

    def close(self) -> None:
        """Closes the socket at once (nothing lingers), stops the authenticator."""
        self.socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()


class _AllowKeys:
    """CURVE callback for the ZAP authenticator: only the listed public keys get in."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self._keys = frozenset(keys)

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self._keys
        if not allowed:
            log.warning("refused a connection from an unknown CURVE key")
        return allowed
