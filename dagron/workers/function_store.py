"""The coordinator's pickled task functions: each under an id, with what it needs loaded
first, sent to a worker once and kept there across runs while it does not change.

A function is pickled by value (workers need not import the driver's modules) once per run,
so that each run sends it as it is then; a pickle equal to one made in an earlier run keeps
that one's id, so workers keep what did not change for the store's life. Inside a pickle,
every function and code object the function holds is shared: registered here under an id of
its own and referred to by that id (see function_codec.py). A ``__main__`` helper that fresh
closures call, or a lambda's code, then travels once per worker rather than with each task;
:attr:`FunctionStore.loads` says which ids a worker must have loaded, in order, before a
function. Within a run, fresh function objects alike in everything (a lambda made per node by
a comprehension) share one id without being pickled again, and fresh closures of one shape
(``lambda i=i: step(i)``) share one template, their own values travelling as arguments
(:meth:`FunctionStore.template_of`, see rebound.py).

No sockets: the store is driven by plain calls.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Optional

from . import function_codec
from .function_keys import Key, cell_contents, identity_key
from .rebound import Rebound, split

__all__ = ["KEEP_FUNCTIONS_BYTES", "FunctionStore"]

# Functions stay pickled (and on workers) across the runs of a cluster while their pickles
# add up to at most this; past it, a run's end releases them all (see end_run).
KEEP_FUNCTIONS_BYTES = 16 << 20


class FunctionStore:
    """Pickled functions by id. ``frames`` maps an id to its pickle; ``loads`` maps the id
    of a function that refers to shared objects to every id a worker must hold to load it,
    in load order, itself last (an id missing from it needs only itself)."""

    def __init__(self) -> None:
        self.frames: dict[int, bytes] = {}
        self.loads: dict[int, tuple[int, ...]] = {}
        self._new_loads: dict[int, tuple[int, ...]] = {}  # added since take_new_loads
        self._by_pickle: dict[bytes, int] = {}  # pickle -> id, across runs
        self._next_id = itertools.count()  # never reused: workers may still hold old ones
        self._bytes = 0  # the sizes of the pickles in frames, added up
        # This run's objects: id(object) -> fn id, with the objects kept alive so that their
        # ids stay theirs; and the likeness (see _likeness) of its plain functions -> fn id,
        # with the objects the likeness names kept alive for the same reason.
        self._ids: dict[int, int] = {}
        self._refs: list[Any] = []
        self._alike: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
        self._pickling: set[int] = set()  # id() of the objects being pickled now
        # This run's closure shapes (see rebound.py) -> the id of their Rebound, with the
        # objects the shape names by id kept alive.
        self._shapes: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
        # id(task callable) -> what call_of said of it this run (the callables kept alive).
        self._calls: dict[int, tuple[int, tuple[Any, ...]]] = {}

    def id_of(self, fn: Any) -> int:
        """The id of ``fn``, pickling it (and the functions and code it holds) the first
        time this run sees it or a function alike in everything. Raises what pickling
        raises when ``fn`` cannot be pickled."""
        fn_id = self._ids.get(id(fn))
        if fn_id is not None:
            return fn_id
        like = _likeness(fn)
        if like is not None:
            known = self._alike.get(like[0])
            if known is not None:
                return self._note(fn, known[0])
        needs: list[int] = []
        self._pickling.add(id(fn))
        try:
            pickled = function_codec.dumps_function(fn, lambda obj: self._share(obj, needs))
        finally:
            self._pickling.discard(id(fn))
        fn_id = self._by_pickle.get(pickled)
        if fn_id is None:  # not made before, or changed since
            fn_id = next(self._next_id)
            self._by_pickle[pickled] = fn_id
            self.frames[fn_id] = pickled
            self._bytes += len(pickled)
            if needs:
                order = dict.fromkeys(i for n in needs for i in self.loads.get(n, (n,)))
                order[fn_id] = None
                self.loads[fn_id] = self._new_loads[fn_id] = tuple(order)
        if like is not None:
            self._alike[like[0]] = (fn_id, like[1])
        return self._note(fn, fn_id)

    def call_of(self, fn: Any) -> tuple[int, tuple[Any, ...]]:
        """How a worker calls task ``fn``: the id of the function it calls, and the
        arguments that go before the task's own (those of a closure made from a template,
        see :meth:`template_of`; none for any other). Found again at once for the same
        object within a run, as when one callable serves many nodes."""
        known = self._calls.get(id(fn))
        if known is None:
            known = self.template_of(fn) or (self.id_of(fn), ())
            self._calls[id(fn)] = known
            self._refs.append(fn)
        return known

    def template_of(self, fn: Any) -> Optional[tuple[int, tuple[Any, Any]]]:
        """For a fresh closure (see :func:`~dagron.workers.rebound.split`): the id of a
        :class:`~dagron.workers.rebound.Rebound` over the first function of its shape this
        run (pickled once), and the two arguments that make that one ``fn`` for a call.
        None for a function of no such shape: :meth:`id_of` it."""
        found = split(fn)
        if found is None:
            return None
        (key, varying, named), values = found
        known = self._shapes.get(key)
        if known is None:
            fn_id = self.id_of(Rebound(fn, varying))
            self._shapes[key] = (fn_id, named)
        else:
            fn_id = known[0]
        return fn_id, values

    def _note(self, obj: Any, fn_id: int) -> int:
        self._ids[id(obj)] = fn_id
        self._refs.append(obj)
        return fn_id

    def _share(self, obj: Any, needs: list[int]) -> Optional[int]:
        """The id a pickle refers to ``obj`` by, or None to keep it inside the pickle: an
        object being pickled already (a function calling itself through another), or one
        that does not pickle on its own (its error comes with the whole)."""
        if id(obj) in self._pickling:
            return None
        try:
            shared = self.id_of(obj)
        except Exception:
            return None
        needs.append(shared)
        return shared

    def take_new_loads(self) -> dict[int, tuple[int, ...]]:
        """The :attr:`loads` entries added since the last call."""
        new, self._new_loads = self._new_loads, {}
        return new

    def needed(self, fn_ids: Iterable[int]) -> set[int]:
        """Every id a worker must hold to load the functions ``fn_ids``."""
        loads = self.loads
        out: set[int] = set()
        for fn_id in fn_ids:
            out.update(loads.get(fn_id, (fn_id,)))
        return out

    def end_run(self, in_use: Iterable[int]) -> tuple[int, ...]:
        """A run is over. The next one pickles its functions anew (they may have changed),
        so this forgets which objects had which id. If the pickles kept add up to more than
        KEEP_FUNCTIONS_BYTES, forgets them too (but those that functions ``in_use`` need)
        and returns their ids, which workers may forget; else keeps them, so that a
        function pickled the same way next run is not sent again, and returns ``()``."""
        self._ids.clear()
        self._refs.clear()
        self._alike.clear()
        self._shapes.clear()
        self._calls.clear()
        if self._bytes <= KEEP_FUNCTIONS_BYTES:
            return ()
        keep = self.needed(in_use)
        released = tuple(fn_id for fn_id in self.frames if fn_id not in keep)
        for fn_id in released:
            pickled = self.frames.pop(fn_id)
            self._bytes -= len(pickled)
            del self._by_pickle[pickled]
            self.loads.pop(fn_id, None)
            self._new_loads.pop(fn_id, None)
        return released


def _likeness(fn: Any) -> Optional[Key]:
    """For a plain function without attributes of its own: a key equal for functions alike
    in everything pickling them by value records (see function_keys.py: here with their
    defaults and closure contents), with the objects it names by id. None for anything
    else."""
    contents = cell_contents(fn)
    if contents is None:
        return None
    return identity_key(fn, (fn.__defaults__, *contents), ())
