"""How local workers are started: forked by a fork server (``"forkserver"``, the default
where it is supported: Linux) or as a fresh interpreter each (``"spawn"``).

The environment variable ``DAGRON_START_METHOD`` sets the default, for runs that make their
coordinator themselves (``DAGExecutor(backend="processes")``).
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Literal, Optional, cast

__all__ = [
    "START_METHODS",
    "StartMethod",
    "default_start_method",
    "forkserver_supported",
    "resolve",
]

StartMethod = Literal["forkserver", "spawn"]
START_METHODS: tuple[StartMethod, ...] = ("forkserver", "spawn")
_ENV = "DAGRON_START_METHOD"


def forkserver_supported() -> bool:
    """The fork server needs pidfds and descriptor passing: Linux."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "pidfd_open")
        and hasattr(socket, "send_fds")
    )


def default_start_method() -> StartMethod:
    """``DAGRON_START_METHOD`` if set, else ``"forkserver"`` where supported, else
    ``"spawn"``."""
    chosen = os.environ.get(_ENV)
    if chosen:
        return resolve(chosen)
    return "forkserver" if forkserver_supported() else "spawn"


def resolve(method: Optional[str]) -> StartMethod:
    """``method`` checked (None: the default); ``ValueError`` for an unknown one, or for
    ``"forkserver"`` where it is not supported."""
    if method is None:
        return default_start_method()
    if method not in START_METHODS:
        raise ValueError(
            f"start_method={method!r}: expected one of {', '.join(map(repr, START_METHODS))}"
        )
    if method == "forkserver" and not forkserver_supported():
        raise ValueError("start_method='forkserver' needs Linux; use 'spawn'")
    return cast(StartMethod, method)
