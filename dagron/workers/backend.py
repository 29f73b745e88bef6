"""``backend="processes"``: the coordinator a run makes for itself.

The fork server (see :mod:`~dagron.workers.forkserver_client`) is started before the
coordinator's module is imported, so that the two interpreters import at the same time: a
first run's workers are then ready sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import forkserver_client
from .start_method import default_start_method

if TYPE_CHECKING:
    from .coordinator import Coordinator

__all__ = ["processes_backend"]


def processes_backend() -> Coordinator:
    """A coordinator sized by the run it serves, starting workers the default way."""
    if default_start_method() == "forkserver":
        forkserver_client.prestart()
    from .coordinator import Coordinator  # the heavy part: zmq, the state machine, ...

    return Coordinator()
