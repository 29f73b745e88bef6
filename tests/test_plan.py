"""Planning a run: which tasks are coroutine functions (they run on an event loop)."""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any

import pytest

import dagron
from dagron._plan import is_async_callable


async def coro(x: int = 0) -> int:
    return x


def plain(x: int = 0) -> int:
    return x


class AsyncCall:
    async def __call__(self) -> int:
        return 1


class SyncCall:
    def __call__(self) -> int:
        return 1


@pytest.mark.parametrize(
    "fn, expected",
    [
        (coro, True),
        (plain, False),
        (lambda: None, False),
        (functools.partial(coro, 1), True),
        (functools.partial(functools.partial(coro), 1), True),
        (functools.partial(plain, 1), False),
        (AsyncCall(), True),
        (SyncCall(), False),
        (functools.partial(AsyncCall()), True),  # calling it makes a coroutine too
        (print, False),
        (dagron.task(coro), True),
        (dagron.task(plain), False),
    ],
)
def test_is_async_callable(fn: Any, expected: bool) -> None:
    assert is_async_callable(fn) is expected


def test_is_async_callable_sees_a_function_marked_as_a_coroutine_function() -> None:
    def marked() -> Any:
        return coro()

    if sys.version_info >= (3, 12):
        inspect.markcoroutinefunction(marked)
        assert is_async_callable(marked)
    marked.attribute = 1  # type: ignore[attr-defined]  # a function with a __dict__
    assert is_async_callable(marked) is (sys.version_info >= (3, 12))
