"""The execution errors appended to dagron.errors: data as attributes, pickle round trips."""

from __future__ import annotations

import pickle

import pytest

from dagron import errors
from dagron.errors import (
    DagronError,
    ExecutionError,
    ExecutionFailedError,
    MissingTaskError,
    TaskNotCallableError,
    TaskTimeoutError,
    UnknownTaskError,
    UnresolvedParameterError,
)

SAMPLES = [
    MissingTaskError(["b", "c"]),
    UnknownTaskError(["zzz"]),
    TaskNotCallableError(["a"]),
    UnresolvedParameterError("save", "dubble"),
    TaskTimeoutError("slow", 1.5),
    ExecutionFailedError(["t"], ["s"], ["c"], ["k"], {"t": "ValueError: x"}, 5),
]


@pytest.mark.parametrize("err", SAMPLES, ids=lambda e: type(e).__name__)
def test_execution_errors_pickle_intact(err: ExecutionError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert vars(back) == vars(err)
    assert isinstance(back, ExecutionError) and isinstance(back, DagronError)


@pytest.mark.parametrize("err", SAMPLES, ids=lambda e: type(e).__name__)
def test_execution_errors_are_exported(err: ExecutionError) -> None:
    assert type(err).__name__ in errors.__all__


def test_execution_errors_messages_name_the_nodes() -> None:
    assert str(MissingTaskError(["b", "c"])) == "no task for node(s) 'b', 'c'"
    assert "'zzz'" in str(UnknownTaskError(["zzz"]))
    assert str(TaskTimeoutError("slow", 1.5)) == "node 'slow' timed out after 1.5s"
    assert "'dubble'" in str(UnresolvedParameterError("save", "dubble"))
    assert isinstance(TaskNotCallableError(["a"]), TypeError)
