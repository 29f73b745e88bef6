"""Task functions pickled by value, referring to the functions and code objects they use by
id, so that what many tasks share travels once.

A script's tasks are functions of ``__main__``: cloudpickle sends them by value, and with each
one every ``__main__`` function it calls and its own code. Fresh task objects made per node
(``lambda: step(i)``, closures over a helper) would carry all of that again for every node.
:func:`dumps_function` instead hands every function and code object met inside the one being
pickled (but that one itself, and functions pickled by reference) to ``share``, which
registers it under an id of its own and returns that id; the pickle holds the id.
:func:`loads_function` rebuilds the function on the worker from the objects already loaded
there under those ids, so they must be loaded first.

The pair is a codec for the coordinator's own messages: the worker unpickles what the
coordinator sends, which it trusts (the socket is authenticated or private).
"""

from __future__ import annotations

import io
import pickle
import sys
from types import CodeType, FunctionType
from typing import Any, Callable, Optional

import cloudpickle

__all__ = ["MissingShared", "dumps_function", "loads_function"]

Share = Callable[[Any], Optional[int]]


class MissingShared(LookupError):
    """A pickle refers to a shared object this side does not hold."""

    def __init__(self, shared_id: Any) -> None:
        super().__init__(f"function or code object {shared_id!r} never reached this worker")
        self.shared_id = shared_id


class _SharingPickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, root: Any, share: Share) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._root = root
        self._share = share

    def persistent_id(self, obj: Any) -> Optional[int]:
        kind = type(obj)
        if kind is CodeType or (
            kind is FunctionType and obj is not self._root and not importable(obj)
        ):
            return self._share(obj)
        return None


def importable(fn: Any) -> bool:
    """Whether ``fn`` can be found by its module and qualified name (as pickle finds it, by
    reference: a small pickle not worth sharing), ``__main__`` aside: a script's functions
    travel by value."""
    module = sys.modules.get(fn.__module__) if fn.__module__ != "__main__" else None
    if module is None or "<locals>" in fn.__qualname__:
        return False
    found: Any = module
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is fn


class _SharingUnpickler(pickle.Unpickler):
    def __init__(self, data: Any, lookup: Callable[[int], Any]) -> None:
        super().__init__(io.BytesIO(data))
        self._lookup = lookup

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not int:
            raise pickle.UnpicklingError(f"a shared-object id that is not an int: {pid!r}")
        return self._lookup(pid)


def dumps_function(fn: Any, share: Share) -> bytes:
    """``fn`` pickled by value (in-band: buffers inside the stream), each function and code
    object it holds, at any depth, replaced by ``share(obj)`` where that returns an id
    (``None`` keeps the object in the pickle, as cloudpickle would)."""
    out = io.BytesIO()
    _SharingPickler(out, fn, share).dump(fn)
    return out.getvalue()


def loads_function(data: Any, lookup: Callable[[int], Any]) -> Any:
    """Inverse of :func:`dumps_function`: ``lookup(id)`` returns the shared object loaded
    under ``id`` (raising :class:`MissingShared` if it is not there)."""
    return _SharingUnpickler(data, lookup).load()
