"""Backends run single node calls for the executor's scheduling loop.

``create_backend("threads")`` builds one by name; :class:`Backend` is the protocol a new one
implements (see :mod:`dagron.backends.base`) and :func:`register_backend` makes it available
by name, lazily imported from ``"module:attribute"`` so unused backends cost nothing.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Optional, Union

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
    "check_memory_limit",
    "create_backend",
    "register_backend",
]

BackendFactory = Callable[[], Backend]

_registry: dict[str, Union[str, BackendFactory]] = {
    "threads": "dagron.backends.threads:ThreadsBackend",
    "processes": "dagron.workers.processes_backend:ProcessesBackend",
    "dask": "dagron.backends.dask_backend:DaskBackend",
}


def register_backend(name: str, factory: Union[str, BackendFactory]) -> None:
    """Make ``backend=name`` available: ``factory`` is a zero-argument callable returning a
    fresh :class:`Backend`, or ``"module:attribute"`` naming one (imported on first use)."""
    _registry[name] = factory


def available_backends() -> list[str]:
    """Names accepted by ``DAGExecutor(backend=...)``."""
    return sorted(_registry)


def create_backend(
    spec: Union[str, BackendFactory, Any], memory_limit: Optional[int] = None
) -> Backend:
    """A backend for one run: from a registered name, from a :class:`BackendSource` (a
    cluster that hands out backends on its warm workers), from a zero-argument
    factory, or a backend object itself (``DaskBackend(client)``), used as it is. With
    ``memory_limit`` (bytes), the backend must enforce it on its workers.

    Raises ``TypeError`` when what comes out is not a :class:`Backend`, ``ValueError``
    when it cannot enforce ``memory_limit``."""
    backend = _create(spec)
    if memory_limit is not None:
        _refuse_memory_limit(backend.capabilities, spec)
        backend.limit_memory(memory_limit)
    return backend


def check_memory_limit(spec: Union[str, BackendFactory, Any]) -> None:
    """Raises ``ValueError`` early if the registered backend named ``spec`` cannot enforce
    a memory limit (other kinds of ``spec`` are checked when the backend is made)."""
    if isinstance(spec, str) and spec in _registry:
        factory = _resolve(spec)
        if isinstance(factory, type) and issubclass(factory, Backend):
            _refuse_memory_limit(factory.capabilities, spec)


def _refuse_memory_limit(capabilities: Capabilities, spec: Any) -> None:
    if not capabilities.memory_limit:
        raise ValueError(
            f"memory_limit cannot be enforced by the {spec!r} backend: use "
            "backend='processes', or set the limit where the workers are started "
            "(LocalCluster(memory_limit=...))"
        )


def _resolve(name: str) -> BackendFactory:
    factory = _registry[name]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = _registry[name] = getattr(importlib.import_module(module), attr)
    return factory


def _create(spec: Union[str, BackendFactory, Any]) -> Backend:
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
    if spec not in _registry:
        raise ValueError(f"unknown backend {spec!r}; available: {', '.join(available_backends())}")
    return _checked(_resolve(spec)(), spec)


def _checked(backend: Any, spec: Any) -> Backend:
    if not isinstance(backend, Backend):
        raise TypeError(
            f"backend {spec!r} gave {type(backend).__qualname__}, which is not a "
            "dagron.backends.Backend (subclass it and declare its capabilities)"
        )
    return backend
