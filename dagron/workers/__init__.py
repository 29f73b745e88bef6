"""The multi-process engine: a coordinator that sends cloudpickled tasks over ZeroMQ to
worker processes. See ``docs/processes.md``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Cluster, LocalCluster

__all__ = ["Cluster", "LocalCluster"]


def __getattr__(name: str) -> Any:
    # Imported on first use: a worker process (and the fork server) imports this package
    # but needs none of the coordinator's side, which takes half of its start.
    if name not in __all__:
        raise AttributeError(f"module 'dagron.workers' has no attribute {name!r}")
    value = getattr(importlib.import_module("dagron.workers.cluster"), name)
    globals()[name] = value
    return value
