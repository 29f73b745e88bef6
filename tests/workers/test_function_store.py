"""The coordinator's store of pickled task functions, driven by plain calls: one pickle per
run, ids kept across runs for unchanged pickles, fresh functions alike sharing one, and the
functions and code they hold shared by id (loaded first on a worker)."""

from __future__ import annotations

import os
from typing import Any, Callable

import cloudpickle
import pytest

from dagron.workers import function_codec
from dagron.workers.function_store import KEEP_FUNCTIONS_BYTES, FunctionStore


def load(store: FunctionStore, fn_id: int, loaded: dict[int, Any] | None = None) -> Any:
    """Function ``fn_id`` as a worker loads it, what it needs first (into ``loaded``, a
    worker's functions, which may hold some of them already)."""
    loaded = {} if loaded is None else loaded
    for needed in store.loads.get(fn_id, (fn_id,)):
        if needed not in loaded:
            loaded[needed] = function_codec.loads_function(store.frames[needed], loaded.__getitem__)
    return loaded[fn_id]


class Counted:
    """Counts its picklings: a function whose closure holds one counts its own."""

    pickled = 0

    def __reduce__(self) -> tuple[type, tuple[()]]:
        Counted.pickled += 1
        return (Counted, ())


def test_a_function_is_pickled_anew_for_each_run_so_a_run_sees_its_current_state() -> None:
    data = [1]

    def count() -> int:  # by value, closing over data, as a script's function would
        return len(data)

    store = FunctionStore()
    first = store.id_of(count)
    assert store.end_run(()) == ()  # the run is over
    data.append(2)  # the user changes what the function sees, then runs again
    fn_id = store.id_of(count)
    assert fn_id != first
    assert load(store, fn_id)() == 2


def test_a_function_unchanged_since_an_earlier_run_keeps_its_id() -> None:
    def count() -> int:
        return 3

    store = FunctionStore()
    fn_id = store.id_of(count)
    frames = dict(store.frames)
    store.end_run(())
    assert store.id_of(count) == fn_id  # pickled again, to the same bytes
    assert store.frames == frames  # nothing new for workers holding it


def test_fresh_closures_alike_in_everything_are_pickled_once() -> None:
    mark = Counted()

    def helper(x: int) -> int:
        return x + 0 * id(mark)

    store = FunctionStore()
    Counted.pickled = 0
    # a fresh lambda per node, as a comprehension makes them
    ids = {store.id_of(lambda: helper(1)) for _ in range(200)}
    assert Counted.pickled == 1 and len(ids) == 1
    assert load(store, ids.pop())() == 1


def test_fresh_closures_over_different_values_keep_their_own_values() -> None:
    def make(i: int) -> Callable[[], int]:
        return lambda: i * 2

    store = FunctionStore()
    got = [load(store, store.id_of(make(i)))() for i in range(5)]
    assert got == [0, 2, 4, 6, 8]


def test_closures_alike_but_for_defaults_or_attributes_are_told_apart() -> None:
    store = FunctionStore()
    defaults = [store.id_of(lambda k=key: k) for key in range(3)]
    assert [load(store, i)() for i in defaults] == [0, 1, 2]
    tagged = []
    for key in range(2):
        fn = lambda: 0  # noqa: E731
        fn.tag = key  # type: ignore[attr-defined]
        tagged.append(store.id_of(fn))
    assert [load(store, i).tag for i in tagged] == [0, 1]


def test_closures_over_one_helper_carry_it_once_and_only_their_own_values() -> None:
    mark = Counted()

    def helper(i: int) -> int:  # a script's helper: by value
        return i * 10 + 0 * id(mark)

    store = FunctionStore()
    Counted.pickled = 0
    ids = [store.id_of(lambda i=i: helper(i)) for i in range(100)]
    assert len(set(ids)) == 100  # each closure its own (its default differs)
    assert Counted.pickled == 1, "the helper travelled with every closure"
    shared = set(store.loads[ids[0]][:-1])
    assert all(set(store.loads[i][:-1]) == shared for i in ids)  # the helper and the code
    assert len(store.frames) == 100 + len(shared)
    alone = len(cloudpickle.dumps(lambda i=1: helper(i)))  # the helper inside
    assert max(len(store.frames[i]) for i in ids) < alone / 2
    worker: dict[int, Any] = {}
    assert [load(store, i, worker)() for i in ids[:5]] == [0, 10, 20, 30, 40]


def test_shared_objects_come_before_what_needs_them() -> None:
    def inner() -> int:
        return 1

    def middle() -> int:
        return inner() + 1

    def outer() -> int:
        return middle() + 1

    store = FunctionStore()
    fn_id = store.id_of(outer)
    order = store.loads[fn_id]
    assert order[-1] == fn_id and len(order) == len(set(order))
    loaded: dict[int, Any] = {}
    for needed in order:  # each loads from those before it alone
        loaded[needed] = function_codec.loads_function(store.frames[needed], loaded.__getitem__)
    assert loaded[fn_id]() == 3


def test_functions_calling_each_other_or_themselves_pickle_and_run() -> None:
    def even(n: int) -> bool:
        return n == 0 or odd(n - 1)

    def odd(n: int) -> bool:
        return n != 0 and even(n - 1)

    def fact(n: int) -> int:
        return 1 if n <= 1 else n * fact(n - 1)

    store = FunctionStore()
    assert load(store, store.id_of(lambda: (even(10), odd(7), fact(5))))() == (True, True, 120)


def test_a_local_class_and_its_methods_travel_and_work() -> None:
    class Greeter:
        def __init__(self, name: str) -> None:
            self.name = name

        def greet(self) -> str:
            return f"hello {self.name}"

    class Loud(Greeter):
        def greet(self) -> str:
            return super().greet().upper()

    store = FunctionStore()
    ids = [store.id_of(lambda i=i: Loud(str(i)).greet()) for i in range(3)]
    worker: dict[int, Any] = {}
    assert [load(store, i, worker)() for i in ids] == ["HELLO 0", "HELLO 1", "HELLO 2"]


def test_functions_found_by_reference_are_not_shared() -> None:
    store = FunctionStore()
    fn_id = store.id_of(lambda: os.path.join("a", "b"))
    assert len(store.loads[fn_id]) == 2  # the lambda and its code, not os.path.join
    assert load(store, fn_id)() == os.path.join("a", "b")


def test_an_unpicklable_object_in_a_shared_helper_fails_the_function() -> None:
    import threading

    lock = threading.Lock()

    def helper() -> bool:
        return lock.locked()

    store = FunctionStore()
    with pytest.raises(TypeError, match="lock"):
        store.id_of(lambda: helper())
    assert store.id_of(lambda: 1) is not None  # the store is still usable


def test_end_run_keeps_what_functions_in_use_need() -> None:
    data = b"x" * (KEEP_FUNCTIONS_BYTES + 1)

    def helper() -> int:
        return len(data)

    store = FunctionStore()
    first = store.id_of(lambda: helper())
    other = store.id_of(lambda: helper() + 1)
    needed, every = store.needed([first]), store.needed([first, other])
    assert other in every - needed
    released = store.end_run([first])
    assert set(released) == every - needed  # the helper stays: "first" needs it
    assert set(store.frames) == needed and first in store.loads
    assert set(store.loads) <= needed
    assert set(store.end_run([])) == needed
    assert store.frames == {} and store.loads == {}


def test_take_new_loads_hands_each_entry_on_once() -> None:
    def helper() -> int:
        return 1

    store = FunctionStore()
    fn_id = store.id_of(lambda: helper())
    new = store.take_new_loads()
    assert fn_id in new and new == store.loads  # the lambda's, and the helper's own
    assert store.take_new_loads() == {}
    store.id_of(helper)  # known already: nothing new
    assert store.take_new_loads() == {}


def test_template_of_sends_fresh_closures_of_one_shape_as_one_function() -> None:
    mark = Counted()

    def helper(i: int) -> int:
        return i * 10 + 0 * id(mark)

    store = FunctionStore()
    Counted.pickled = 0
    found = [store.template_of(lambda i=i: helper(i)) for i in range(100)]
    assert all(f is not None for f in found)
    ids = {f[0] for f in found}  # type: ignore[index]
    assert len(ids) == 1 and Counted.pickled == 1
    rebound = load(store, ids.pop())
    assert [rebound(*f[1]) for f in found[:4]] == [0, 10, 20, 30]  # type: ignore[index]
    assert store.template_of(lambda: helper(1)) is None  # nothing varies: id_of shares it
    store.end_run(())
    again = store.template_of(lambda i=1: helper(i))
    assert again is not None and again[0] not in {f[0] for f in found}  # type: ignore[index]


def test_call_of_looks_at_one_callable_once_per_run() -> None:
    def helper(i: int) -> int:
        return i

    shared = lambda: helper(1)  # noqa: E731  (one callable for every node)
    closure = lambda i=3: helper(i)  # noqa: E731
    store = FunctionStore()
    first, templated = store.call_of(shared), store.call_of(closure)
    assert first[1] == () and templated[1] == ((3,), ())
    assert store.call_of(shared) is first and store.call_of(closure) is templated
    store.end_run(())
    assert store.call_of(shared) is not first  # the next run looks again
