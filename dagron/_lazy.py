"""Names a package exports but imports on first use (PEP 562's module ``__getattr__``)."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` (whose globals are ``namespace``) that
    imports each name of ``homes`` from the module given for it when first asked for, and
    keeps it in ``namespace``, where it is found directly from then on."""

    def find(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return find
