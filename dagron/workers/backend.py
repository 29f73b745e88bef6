"""``backend="processes"``: the backend a run makes for itself, on the default pool's warm
workers (:mod:`~dagron.workers.processes_backend`).

The fork server (see :mod:`~dagron.workers.forkserver_client`) is started before the
coordinator's module is imported, so that the two interpreters import at the same time: a
first run's workers are then ready sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import forkserver_client
from .start_method import default_start_method

if TYPE_CHECKING:
    from .processes_backend import ProcessesBackend

__all__ = ["processes_backend"]


def processes_backend() -> ProcessesBackend:
    """A run's backend on local worker processes (the default pool's, see
    :class:`~dagron.workers.processes_backend.ProcessesBackend`)."""
    if default_start_method() == "forkserver":
        forkserver_client.prestart()
    from .processes_backend import ProcessesBackend  # the heavy part: zmq, the coordinator

    return ProcessesBackend()
