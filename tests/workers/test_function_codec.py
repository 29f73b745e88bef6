"""Task functions pickled with the functions and code objects they hold referred to by id,
and loaded back from the objects a worker holds under those ids."""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import pytest

from dagron.workers.function_codec import (
    MissingShared,
    dumps_function,
    importable,
    loads_function,
)


def module_level() -> int:
    return 5


def sharing_into(registry: dict[int, Any]) -> Any:
    def share(obj: Any) -> int:
        registry[len(registry)] = obj
        return len(registry) - 1

    return share


def test_dumps_function_refers_to_inner_functions_and_code_by_id() -> None:
    def helper(x: int) -> int:
        return x + 1

    def task() -> int:
        return helper(1) + module_level()

    registry: dict[int, Any] = {}
    data = dumps_function(task, sharing_into(registry))
    kinds = sorted(type(obj).__name__ for obj in registry.values())
    assert kinds == ["code", "function"]  # task's code and helper; not module_level
    assert helper in registry.values() and task.__code__ in registry.values()
    assert loads_function(data, registry.__getitem__)() == 7


def test_dumps_function_keeps_what_share_declines_inside() -> None:
    def helper() -> int:
        return 2

    data = dumps_function(lambda: helper(), lambda obj: None)
    assert loads_function(data, lambda i: pytest.fail("nothing is shared"))() == 2
    assert pickle.loads(data)() == 2  # a plain pickle


def test_loads_function_raises_missing_shared_for_an_unknown_id() -> None:
    data = dumps_function(lambda: 1, lambda obj: 41)

    def lookup(shared_id: int) -> Any:
        raise MissingShared(shared_id)

    with pytest.raises(MissingShared) as caught:
        loads_function(data, lookup)
    assert caught.value.shared_id == 41 and "41" in str(caught.value)


def test_loads_function_refuses_ids_that_are_not_ints() -> None:
    class Odd(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "x" if obj == "payload" else None

    out = io.BytesIO()
    Odd(out, protocol=5).dump(["payload"])
    with pytest.raises(pickle.UnpicklingError, match="not an int"):
        loads_function(out.getvalue(), lambda i: None)


def test_importable_tells_functions_found_by_name_from_those_sent_by_value() -> None:
    def local() -> None:
        pass

    def renamed() -> None:
        pass

    assert importable(module_level) and importable(os.path.join)
    assert not importable(local)
    renamed.__qualname__ = "module_level"  # a name that finds another function
    assert not importable(renamed)
