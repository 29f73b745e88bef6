"""The one life-cycle enum shared by everything that owns processes or sockets."""

from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(Enum):
    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"
