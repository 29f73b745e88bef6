"""Backends run single node calls for the executor's scheduling loop.

``create_backend("threads")`` builds one by name; :class:`Backend` is the protocol a new one
implements (see :mod:`dagron.backends.base`) and :func:`register_backend` makes it available
by name, lazily imported from ``"module:attribute"`` so unused backends cost nothing.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Union

from .base import Backend, BackendSource, Capabilities, Completion, Failed, Started, Succeeded

__all__ = [
    "Backend",
    "BackendSource",
    "Capabilities",
    "Completion",
    "Failed",
    "Started",
    "Succeeded",
    "available_backends",
    "create_backend",
    "register_backend",
]

BackendFactory = Callable[[], Backend]

_registry: dict[str, Union[str, BackendFactory]] = {
    "threads": "dagron.backends.threads:ThreadsBackend",
    "processes": "dagron.workers.coordinator:Coordinator",
    "dask": "dagron.backends.dask_backend:DaskBackend",
}


def register_backend(name: str, factory: Union[str, BackendFactory]) -> None:
    """Make ``backend=name`` available: ``factory`` is a zero-argument callable returning a
    fresh :class:`Backend`, or ``"module:attribute"`` naming one (imported on first use)."""
    _registry[name] = factory


def available_backends() -> list[str]:
    """Names accepted by ``DAGExecutor(backend=...)``."""
    return sorted(_registry)


def create_backend(spec: Union[str, BackendFactory, Any]) -> Backend:
    """A backend for one run: from a registered name, from a :class:`BackendSource` (a
    cluster that hands out backends on its warm workers), from a zero-argument
    factory, or a backend object itself (``DaskBackend(client)``), used as it is.

    Raises ``TypeError`` when what comes out is not a :class:`Backend`."""
    if isinstance(spec, Backend):
        return spec
    if isinstance(spec, BackendSource):
        return _checked(spec.backend(), spec)
    if callable(spec):
        return _checked(spec(), spec)
    if not isinstance(spec, str):
        raise TypeError(
            f"backend={spec!r}: expected a backend name ({', '.join(available_backends())}), "
            "a Backend, a BackendSource (such as a cluster) or a zero-argument factory"
        )
    try:
        factory = _registry[spec]
    except KeyError:
        raise ValueError(
            f"unknown backend {spec!r}; available: {', '.join(available_backends())}"
        ) from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = _registry[spec] = getattr(importlib.import_module(module), attr)
    return _checked(factory(), spec)


def _checked(backend: Any, spec: Any) -> Backend:
    if not isinstance(backend, Backend):
        raise TypeError(
            f"backend {spec!r} gave {type(backend).__qualname__}, which is not a "
            "dagron.backends.Backend (subclass it and declare its capabilities)"
        )
    return backend
