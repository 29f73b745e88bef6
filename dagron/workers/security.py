"""CURVE keys: generating them, loading them, and the rule that remote means authenticated.

Running a pickle is running code, so a coordinator that listens beyond this machine must
know who connects. ``dagron keygen DIR`` writes two key pairs in ZeroMQ's certificate format:

- ``coordinator.key`` / ``coordinator.key_secret``: the coordinator's pair. Workers need the
  public half to know they talk to the right coordinator.
- ``worker.key`` / ``worker.key_secret``: the pair workers present. The coordinator accepts
  a worker only if its public key is ``worker.key`` or a ``*.key`` file in ``DIR/authorized``.

Copy the directory to the worker hosts (it holds secrets: keep it mode 0700).
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import zmq
import zmq.auth

from ..errors import SecurityError

__all__ = [
    "CoordinatorKeys",
    "WorkerKeys",
    "generate_keys",
    "is_loopback_endpoint",
    "is_private_endpoint",
    "load_coordinator_keys",
    "load_worker_keys",
]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class CoordinatorKeys:
    public: bytes
    secret: bytes = field(repr=False)
    authorized: tuple[bytes, ...]


@dataclass(frozen=True)
class WorkerKeys:
    public: bytes
    secret: bytes = field(repr=False)
    server_public: bytes


def generate_keys(directory: PathLike) -> Path:
    """Writes the coordinator's and the workers' key pairs into ``directory`` (created with
    mode 0700). Existing keys are kept: generating twice would lock out deployed workers."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    (d / "authorized").mkdir(exist_ok=True)
    for name in ("coordinator", "worker"):
        if not (d / f"{name}.key_secret").exists():
            zmq.auth.create_certificates(str(d), name)
        os.chmod(d / f"{name}.key_secret", 0o600)
    return d


def _load(path: Path, secret: bool) -> tuple[bytes, Optional[bytes]]:
    if not path.exists():
        raise SecurityError(f"key file {path} does not exist (create keys with `dagron keygen`)")
    try:
        public, private = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read key file {path}: {exc}") from exc
    if secret and private is None:
        raise SecurityError(f"{path} holds no secret key")
    return public, private


def load_coordinator_keys(directory: PathLike) -> CoordinatorKeys:
    d = Path(directory)
    public, secret = _load(d / "coordinator.key_secret", secret=True)
    authorized = [_load(d / "worker.key", secret=False)[0]] if (d / "worker.key").exists() else []
    if (d / "authorized").is_dir():
        authorized += [_load(p, secret=False)[0] for p in sorted((d / "authorized").glob("*.key"))]
    if not authorized:
        raise SecurityError(f"no worker public keys in {d} (worker.key or authorized/*.key)")
    assert secret is not None
    return CoordinatorKeys(public, secret, tuple(authorized))


def load_worker_keys(directory: PathLike) -> WorkerKeys:
    d = Path(directory)
    public, secret = _load(d / "worker.key_secret", secret=True)
    server_public, _ = _load(d / "coordinator.key", secret=False)
    assert secret is not None
    return WorkerKeys(public, secret, server_public)


def is_private_endpoint(endpoint: str) -> bool:
    """True for ``ipc://`` and ``inproc://`` endpoints: reachable only through the file
    system (the coordinator's lies in a mode 0700 directory) or from within the process.
    Unlike a loopback TCP port, which any local user can connect to."""
    return endpoint.partition("://")[0] in ("ipc", "inproc")


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ``ipc://`` and ``inproc://`` endpoints and TCP on a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = urllib.parse.urlsplit(f"//{rest}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or an interface: treat as reachable from elsewhere
