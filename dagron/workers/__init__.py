"""The multi-process engine: a coordinator that sends cloudpickled tasks over ZeroMQ to
worker processes. See ``docs/processes.md``."""

from __future__ import annotations

from .cluster import Cluster, LocalCluster

__all__ = ["Cluster", "LocalCluster"]
