"""Keys that tell when two plain functions pickle alike: equal names, and by identity the
same code, globals, module, doc, annotation values and whichever other parts the caller
names (defaults, closure contents). Identity, because equality would run user code and
could be unhashable; the objects a key names by id are handed back, to be kept alive while
the key is in use, so that no other object can take their ids.
"""

from __future__ import annotations

import sys
from types import FunctionType
from typing import Any, Optional

__all__ = ["Key", "cell_contents", "identity_key"]

Key = tuple[tuple[Any, ...], tuple[Any, ...]]  # (the key, the objects it names by id)


def cell_contents(fn: Any) -> Optional[list[Any]]:
    """What the closure cells of a plain function hold (``[]`` without a closure); None for
    anything that is not a plain function without attributes of its own, or that has an
    empty cell."""
    if type(fn) is not FunctionType or fn.__dict__:
        return None
    if sys.version_info >= (3, 12) and fn.__type_params__:  # a tuple made for each function
        return None
    try:
        return [cell.cell_contents for cell in fn.__closure__ or ()]
    except ValueError:  # an empty cell
        return None


def identity_key(fn: FunctionType, parts: tuple[Any, ...], shape: tuple[Any, ...]) -> Key:
    """The key of ``fn`` that also names ``parts`` by identity and ``shape`` by value."""
    # Each function has annotations of its own (a dict made for it): compared by content.
    notes = tuple(fn.__annotations__.items())
    named = (
        fn.__code__,
        fn.__globals__,
        fn.__kwdefaults__,
        fn.__module__,
        fn.__doc__,
        *parts,
        *(v for _, v in notes),
    )
    key = (fn.__name__, fn.__qualname__, len(parts), *shape, *(n for n, _ in notes))
    return key + tuple(map(id, named)), named
