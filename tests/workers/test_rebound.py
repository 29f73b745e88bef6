"""Fresh closures of one shape split into one template and per-call values, and rebuilt
from them for a call."""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable

import cloudpickle

from dagron.workers.rebound import Rebound, split


def make(i: int, helper: Callable[[int], int]) -> Callable[[], int]:
    return lambda: helper(i)


def double(x: int) -> int:
    return 2 * x


def call(fn: Any) -> Any:
    """``fn`` called as a worker calls it: through the Rebound of its shape."""
    found = split(fn)
    assert found is not None
    (_, varying, _), (defaults, values) = found
    return Rebound(fn, varying)(defaults, values)


def test_split_gives_closures_of_one_shape_one_key_and_their_own_values() -> None:
    fns = [lambda i=i: double(i) for i in range(3)] + [make(i, double) for i in range(3)]
    found = [split(fn) for fn in fns]
    assert all(f is not None for f in found)
    keys = [f[0][0] for f in found]  # type: ignore[index]
    assert keys[0] == keys[1] == keys[2] != keys[3] == keys[4] == keys[5]
    assert [f[1] for f in found[:3]] == [((0,), ()), ((1,), ()), ((2,), ())]  # type: ignore[index]
    assert [f[1] for f in found[3:]] == [(None, (0,)), (None, (1,)), (None, (2,))]  # type: ignore[index]


def test_rebound_calls_the_closure_the_values_make() -> None:
    template = make(0, double)
    found = split(template)
    assert found is not None
    (_, varying, _), _ = found
    rebound = Rebound(template, varying)
    assert [rebound(None, (i,)) for i in range(4)] == [0, 2, 4, 6]
    assert [call(lambda i=i, j=10: double(i) + j) for i in range(3)] == [10, 12, 14]


def test_rebound_travels_and_keeps_name_and_code() -> None:
    def named(i: int = 5) -> tuple[int, str, str]:
        """Its doc."""
        return i, named.__doc__ or "", __name__

    found = split(named)
    assert found is not None
    (_, varying, _), _ = found
    back = pickle.loads(cloudpickle.dumps(Rebound(named, varying)))
    assert back((7,), ()) == (7, "Its doc.", __name__)


def test_rebound_gives_each_call_cells_of_its_own() -> None:
    def counter(start: int) -> Callable[[], int]:
        count = start

        def bump() -> int:
            nonlocal count
            count += 1
            return count

        return bump

    fn = counter(0)
    found = split(fn)
    assert found is not None
    (_, varying, _), _ = found
    rebound = Rebound(fn, varying)
    assert [rebound(None, (10,)), rebound(None, (10,))] == [11, 11]


def test_split_leaves_what_has_nothing_small_to_vary_or_travels_by_reference() -> None:
    data = os.urandom(1 << 20)

    def over_data() -> int:
        return len(data)

    tagged = lambda: 1  # noqa: E731
    tagged.tag = 1  # type: ignore[attr-defined]
    assert split(double) is None  # found by reference
    assert split(over_data) is None  # shared data stays in the pickle, once
    assert split(lambda: double(1)) is None  # nothing varies: alike ones share a pickle
    assert split(tagged) is None  # attributes of its own
    assert split(lambda d={}: d) is None  # a default that is not a small value
    assert split(len) is None


def test_split_keeps_data_and_helpers_in_the_template() -> None:
    shared = list(range(1000))

    def task(i: int) -> Callable[[], int]:
        return lambda: shared[i] + double(i)

    a, b = split(task(1)), split(task(2))
    assert a is not None and b is not None
    assert a[0][0] == b[0][0] and a[1] == (None, (1,)) and b[1] == (None, (2,))
    assert call(task(3)) == 3 + 6
