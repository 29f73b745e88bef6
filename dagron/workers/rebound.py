"""Fresh closures of one shape as one function and per-call values.

A script that makes a task per node with ``lambda i=i: step(i)`` or ``make_task(i)`` (a
closure over ``i``) makes functions that differ only in their defaults and in what their
closure cells hold. Pickled one by one, each carries its own code, name and globals again.
:func:`split` instead gives the first one of a shape as the template of a :class:`Rebound`,
sent to a worker once, and each one's defaults and cell contents as two arguments that
travel with its task; the worker builds the function from the template and those values
for the call. Only small immutable values travel so (numbers, short strings, small tuples of
them: an index, a node's name); cells holding anything else (a helper the closures call,
data they share) stay the template's and travel once.
"""

from __future__ import annotations

from types import CellType, FunctionType
from typing import Any, Optional

from .function_codec import importable
from .function_keys import cell_contents, identity_key

__all__ = ["Rebound", "Shape", "split"]

# (the key of its shape, the indices of its varying cells, the objects the key names by id)
Shape = tuple[tuple[Any, ...], tuple[int, ...], tuple[Any, ...]]


class Rebound:
    """Calls ``template``, remade with the defaults and the contents of the cells at
    ``varying`` given per call: ``Rebound(t, v)(defaults, values, *args)``."""

    __slots__ = ("template", "varying")

    def __init__(self, template: Any, varying: tuple[int, ...]) -> None:
        self.template = template
        self.varying = varying

    def __reduce__(self) -> tuple[Any, ...]:
        return (Rebound, (self.template, self.varying))

    def __call__(
        self, defaults: Optional[tuple[Any, ...]], values: tuple[Any, ...], *args: Any
    ) -> Any:
        t = self.template
        given = dict(zip(self.varying, values))
        closure = t.__closure__ or ()
        cells = tuple(  # fresh cells: a call that rebinds one changes no other call's
            CellType(given[i] if i in given else cell.cell_contents)
            for i, cell in enumerate(closure)
        )
        fn = FunctionType(t.__code__, t.__globals__, t.__name__, defaults, cells or None)
        fn.__kwdefaults__ = t.__kwdefaults__
        fn.__qualname__ = t.__qualname__
        fn.__module__ = t.__module__
        fn.__doc__ = t.__doc__
        fn.__annotations__ = t.__annotations__
        return fn(*args)


# The values that travel per call: what tells one node's closure from another's (an index,
# a name, a path), small and immutable. Anything else (data, a helper, an object) stays in
# the template and travels once, as it would inside one closure's pickle.
_SCALARS = (int, float, complex, bool, type(None))
_MAX_TEXT = 4096


def _small(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is str or kind is bytes:
        return len(value) <= _MAX_TEXT
    if kind is tuple and depth < 2 and len(value) <= 16:
        return all(_small(v, depth + 1) for v in value)
    return False


def split(fn: Any) -> Optional[tuple[Shape, tuple[Optional[tuple[Any, ...]], tuple[Any, ...]]]]:
    """For a plain function pickled by value, with small defaults or with cells holding
    small values (see ``_small``): its shape and its ``(defaults, values)``, the
    arguments a :class:`Rebound` over any function of that shape takes to call it. None
    for anything else (a function with attributes of its own, one found by reference, one
    with nothing that varies)."""
    contents = cell_contents(fn)
    if contents is None:
        return None
    varying = tuple(i for i, c in enumerate(contents) if _small(c))
    defaults = fn.__defaults__
    if defaults is not None and not all(_small(d) for d in defaults):
        return None
    if (not varying and defaults is None) or importable(fn):
        return None
    fixed = tuple(c for i, c in enumerate(contents) if i not in varying)
    key, named = identity_key(fn, fixed, varying)
    values = tuple(contents[i] for i in varying)
    return (key, varying, named), (defaults, values)
