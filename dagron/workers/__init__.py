"""The multi-process engine: a coordinator that sends cloudpickled tasks over ZeroMQ to
worker processes. See ``docs/processes.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .cluster import Cluster, LocalCluster
    from .default_pool import shutdown_default_pool

__all__ = ["Cluster", "LocalCluster", "shutdown_default_pool"]

# Imported on first use: a worker process (and the fork server) imports this package but
# needs none of the coordinator's side, which takes half of its start.
_HOME = {
    "Cluster": "dagron.workers.cluster",
    "LocalCluster": "dagron.workers.cluster",
    "shutdown_default_pool": "dagron.workers.default_pool",
}


__getattr__ = lazy_names(__name__, globals(), _HOME)
