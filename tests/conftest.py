"""Fixtures shared by test modules."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator

import pytest

from dagron import ExecutionResult, NodeStatus
from dagron.errors import ExecutionFailedError
from dagron.result import describe_error


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event stuck tasks wait on; set at teardown so no thread outlives its test."""
    ev = threading.Event()
    yield ev
    ev.set()


@pytest.fixture
def check_undescribable_failure(
    caplog: pytest.LogCaptureFixture,
) -> Callable[[ExecutionResult, str, str], None]:
    """A check that node ``name`` of a run FAILED with an exception of type ``type_name``
    whose ``__str__`` and ``__repr__`` raise RuntimeError, and that the result, its summary
    and the run's log describe it all the same."""
    caplog.set_level(logging.INFO, logger="dagron")

    def check(result: ExecutionResult, name: str, type_name: str) -> None:
        r = result.node_results[name]
        assert r.status is NodeStatus.FAILED and type(r.error).__name__ == type_name
        text = f"{type_name}: <describing it failed: RuntimeError>"
        assert describe_error(r.error) == text
        assert text in repr(r) and "ExecutionResult(" in repr(result) and str(result)
        with pytest.raises(ExecutionFailedError) as failed:
            result.raise_on_failure()
        assert text in str(failed.value) and failed.value.errors[name] == text
        logged = [record.getMessage() for record in caplog.records]
        assert any(f"node {name!r} failed after" in m and text in m for m in logged), logged

    return check
