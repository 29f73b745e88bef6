"""The multi-process engine: a coordinator that sends cloudpickled tasks over ZeroMQ to
worker processes. See ``docs/processes.md``."""

from __future__ import annotations

from .cluster import Cluster, LocalCluster
from .default_pool import shutdown_default_pool

__all__ = ["Cluster", "LocalCluster", "shutdown_default_pool"]
