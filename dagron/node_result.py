"""What one node reports: its status, its outcome (`NodeResult`), each try (`Attempt`) and
the coordinator's scheduling events (`TraceEvent`).

The bottom layer of a run's report: traces, profiles and :class:`~dagron.ExecutionResult`
build on it.
"""

from __future__ import annotations

import abc
import re
from enum import Enum
from typing import Any, Mapping, NamedTuple

__all__ = [
    "Attempt",
    "Deferred",
    "NodeResult",
    "NodeStatus",
    "TraceEvent",
    "describe_error",
    "error_message",
    "natural_key",
]


class NodeStatus(Enum):
    """Where a node is, or how it ended.

    A plain ``Enum`` (no ``str`` mixin) so that ``str(status)`` and ``f"{status}"`` both read
    ``NodeStatus.COMPLETED`` on every Python version; mixin enums format differently on 3.11+.

    >>> f"{NodeStatus.COMPLETED}"
    'NodeStatus.COMPLETED'
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class Deferred(abc.ABC):
    """A result a backend has not deserialised yet (the processes backend keeps results as
    bytes until someone reads them). ``NodeResult.result`` calls :meth:`load` once."""

    __slots__ = ()

    @abc.abstractmethod
    def load(self) -> Any:
        """The value itself."""


class NodeResult:
    """The outcome of one node.

    ``result`` is the task's return value (COMPLETED only); ``error`` the exception it raised
    and ``traceback`` that exception's traceback as text (FAILED, TIMED_OUT). Times:
    ``started_at`` and ``finished_at`` are wall-clock stamps taken where the task ran, on the
    coordinator's timeline (worker processes correct for their clock's measured offset),
    ``duration_seconds`` is measured around the call itself (``time.perf_counter``).
    ``attempts`` counts every try including retries (0 for a node that never started), and
    ``worker`` names where it ran (``host/pid/thread`` for the threads backend).

    >>> r = NodeResult("load", NodeStatus.COMPLETED, result="2 rows written", attempts=1)
    >>> r.ok, r.result
    (True, '2 rows written')
    """

    __slots__ = (
        "_result",
        "attempts",
        "duration_seconds",
        "error",
        "finished_at",
        "name",
        "started_at",
        "status",
        "traceback",
        "worker",
    )

    def __init__(
        self,
        name: str,
        status: NodeStatus,
        result: Any = None,
        error: BaseException | None = None,
        traceback: str | None = None,
        duration_seconds: float = 0.0,
        started_at: float | None = None,
        finished_at: float | None = None,
        attempts: int = 0,
        worker: str | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self._result = result
        self.error = error
        self.traceback = traceback
        self.duration_seconds = duration_seconds
        self.started_at = started_at
        self.finished_at = finished_at
        self.attempts = attempts
        self.worker = worker

    @property
    def result(self) -> Any:
        """The task's return value (``None`` unless COMPLETED)."""
        value = self._result
        if isinstance(value, Deferred):
            value = self._result = value.load()
        return value

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value

    @property
    def ok(self) -> bool:
        """True when the node COMPLETED."""
        return self.status is NodeStatus.COMPLETED

    def __repr__(self) -> str:
        extra = f", error={_error_repr(self.error)}" if self.error is not None else ""
        return (
            f"NodeResult({self.name!r}, {self.status}, "
            f"duration_seconds={self.duration_seconds:.6f}, attempts={self.attempts}{extra})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeResult):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        state = {f: getattr(self, f) for f in self.__slots__}
        state["_result"] = self.result  # resolve a Deferred before crossing a boundary
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class TraceEvent(NamedTuple):
    """One scheduling event recorded when ``enable_tracing=True``.

    ``at`` is seconds since the run started on the coordinator's timeline (the one of
    ``NodeResult.started_at``); ``event`` is one of ``start`` (handed to a worker),
    ``complete``, ``failure``, ``retry``, ``timeout``, ``skip``, ``cancel``.
    """

    at: float
    node: str
    event: str


class Attempt(NamedTuple):
    """One try of one node.

    ``started_at`` and ``finished_at`` are wall-clock stamps taken where it ran (for a
    timed-out or cancelled attempt, on the coordinator when it gave up); ``duration`` is the
    ``NodeResult.duration_seconds`` of that try; ``worker`` names where it ran (``None`` when
    unknown); ``error`` is ``"Type: message"`` for a failed try.
    """

    node: str
    attempt: int
    status: NodeStatus
    started_at: float
    finished_at: float
    duration: float
    worker: str | None
    error: str | None = None


def describe_error(err: BaseException | None) -> str:
    """A failure as one line, ``"Type: message"`` (just ``"Type"`` when the message is empty),
    as :meth:`ExecutionResult.raise_on_failure`, traces and logs report it. Never raises: an
    exception whose ``str()`` fails is described by its type and a note saying so.

    >>> describe_error(ValueError("bad row")), describe_error(KeyError()), describe_error(None)
    ('ValueError: bad row', 'KeyError', 'unknown error')
    """
    if err is None:
        return "unknown error"
    text = error_message(err)
    name = type(err).__qualname__
    return f"{name}: {text}" if text else name


def error_message(err: BaseException) -> str:
    """``str(err)``, or, when that raises, a note saying describing it failed and why.
    Never raises.

    >>> class Mute(Exception):
    ...     def __str__(self) -> str:
    ...         raise RuntimeError("no words")
    >>> error_message(Mute())
    '<describing it failed: RuntimeError>'
    """
    try:
        return str(err)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a broken __str__ must never hide the failure it describes
        return f"<describing it failed: {type(exc).__qualname__}>"


def _error_repr(err: BaseException) -> str:
    """``repr(err)``, or its :func:`describe_error` text when that raises. Never raises."""
    try:
        return repr(err)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"<{describe_error(err)}>"


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key reading digit runs as numbers, so workers sort ``w2`` before ``w10``.

    >>> sorted(["w10", "w2", "w1"], key=natural_key)
    ['w1', 'w2', 'w10']
    """
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(text))
