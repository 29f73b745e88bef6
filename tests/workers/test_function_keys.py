"""Keys that tell plain functions that pickle alike apart from those that do not."""

from __future__ import annotations

from typing import Any, Callable

from dagron.workers.function_keys import cell_contents, identity_key


def closure_over(value: Any) -> Callable[[], Any]:
    return lambda: value


def test_cell_contents_of_plain_functions_only() -> None:
    assert cell_contents(closure_over(3)) == [3]
    assert cell_contents(lambda: 1) == []
    tagged = lambda: 1  # noqa: E731
    tagged.tag = 1  # type: ignore[attr-defined]
    assert cell_contents(tagged) is None  # attributes of its own
    assert cell_contents(len) is None and cell_contents(object()) is None

    def late() -> Callable[[], int]:
        def inner() -> int:
            return later

        empty = cell_contents(inner)  # ``later`` is not bound yet: an empty cell
        later = 1
        assert empty is None
        return inner

    late()


def test_identity_key_is_equal_for_functions_alike_and_names_parts_by_identity() -> None:
    data = [1, 2]
    a, b, c = closure_over(data), closure_over(data), closure_over([1, 2])
    keys = [identity_key(f, tuple(cell_contents(f) or ()), ()) for f in (a, b, c)]  # type: ignore[arg-type]
    assert keys[0][0] == keys[1][0] != keys[2][0]  # an equal list is not the same list
    assert any(part is data for part in keys[0][1])  # kept alive with the key
    assert identity_key(a, (), ("x",))[0] != identity_key(a, (), ("y",))[0]  # type: ignore[arg-type]


def test_identity_key_tells_annotations_apart_by_content() -> None:
    def make(note: Any) -> Callable[[], None]:
        def f() -> None:
            pass

        f.__annotations__ = {"return": note}
        return f

    same = [identity_key(make(int), (), ())[0] for _ in range(2)]  # type: ignore[arg-type]
    assert same[0] == same[1] != identity_key(make(str), (), ())[0]  # type: ignore[arg-type]
