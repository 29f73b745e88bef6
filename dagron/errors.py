"""The dagron exception hierarchy.

Every exception carries its data as attributes and survives ``pickle`` intact, because
errors cross process boundaries (worker processes, remote hosts).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = [
    "DagronError",
    "GraphError",
    "CycleError",
    "DuplicateNodeError",
    "NodeNotFoundError",
    "DuplicateEdgeError",
    "EdgeNotFoundError",
    "InvalidGraphJSONError",
    "ExecutionError",
    "MissingTaskError",
    "UnknownTaskError",
    "TaskNotCallableError",
    "UnresolvedParameterError",
    "TaskTimeoutError",
    "ExecutionFailedError",
    "RunInterrupted",
    "WorkerError",
    "WorkerLostError",
    "WorkerStartError",
    "SerializationError",
    "RemoteTaskError",
    "SecurityError",
]


class DagronError(Exception):
    """Base class of every error dagron raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default reduce replays ``self.args`` into ``__init__``; subclasses with
        # keyword data override ``_reduce_args`` so pickling rebuilds them exactly.
        return (type(self), self._reduce_args(), self.__dict__ or None)

    def _reduce_args(self) -> tuple[Any, ...]:
        return tuple(self.args)


class GraphError(DagronError):
    """A graph operation was refused; the graph is unchanged."""


class CycleError(GraphError):
    """Adding edges would close a cycle.

    ``cycle`` is the closed path with its first node repeated at the end,
    e.g. ``['a', 'b', 'c', 'a']``.
    """

    def __init__(self, cycle: Sequence[str], message: str | None = None) -> None:
        self.cycle = list(cycle)
        super().__init__(message or "adding this would create a cycle: " + " -> ".join(self.cycle))

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.cycle, str(self))


class DuplicateNodeError(GraphError):
    """A node with this name already exists."""

    def __init__(self, node_name: str, message: str | None = None) -> None:
        self.node_name = node_name
        super().__init__(message or f"node {node_name!r} already exists")

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_name, str(self))


class NodeNotFoundError(GraphError, KeyError):
    """No node has this name. Also a ``KeyError``, so ``except KeyError`` keeps working."""

    def __init__(self, node_name: str, message: str | None = None) -> None:
        self.node_name = node_name
        super().__init__(message or f"node {node_name!r} does not exist")

    def __str__(self) -> str:
        # KeyError would repr() the message; a plain sentence reads better.
        return str(self.args[0]) if self.args else ""

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_name, str(self))


class DuplicateEdgeError(GraphError):
    """This edge already exists."""

    def __init__(self, from_node: str, to_node: str, message: str | None = None) -> None:
        self.from_node = from_node
        self.to_node = to_node
        super().__init__(message or f"edge {from_node!r} -> {to_node!r} already exists")

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.from_node, self.to_node, str(self))


class EdgeNotFoundError(GraphError, KeyError):
    """No such edge. Also a ``KeyError``."""

    def __init__(self, from_node: str, to_node: str, message: str | None = None) -> None:
        self.from_node = from_node
        self.to_node = to_node
        super().__init__(message or f"edge {from_node!r} -> {to_node!r} does not exist")

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.from_node, self.to_node, str(self))


class InvalidGraphJSONError(GraphError, ValueError):
    """Text given to ``DAG.from_json`` is not a dagron graph document."""


# --- execution errors ---


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


class ExecutionError(DagronError):
    """Running a DAG was refused before it started, or did not complete."""


class MissingTaskError(ExecutionError):
    """Some nodes of the DAG have no task. ``node_names`` lists them in graph order."""

    def __init__(self, node_names: Sequence[str] = (), message: str | None = None) -> None:
        self.node_names = list(node_names)
        super().__init__(message or f"no task for node(s) {_names(self.node_names)}")

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_names, str(self))


class UnknownTaskError(ExecutionError):
    """Tasks were given for names that are not nodes of the DAG (``node_names``)."""

    def __init__(self, node_names: Sequence[str] = (), message: str | None = None) -> None:
        self.node_names = list(node_names)
        super().__init__(
            message or f"task(s) given for node(s) not in the DAG: {_names(self.node_names)}"
        )

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_names, str(self))


class TaskNotCallableError(ExecutionError, TypeError):
    """The tasks of ``node_names`` are not callable. Also a ``TypeError``."""

    def __init__(self, node_names: Sequence[str] = (), message: str | None = None) -> None:
        self.node_names = list(node_names)
        super().__init__(message or f"task(s) of node(s) {_names(self.node_names)} not callable")

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_names, str(self))


class UnresolvedParameterError(ExecutionError):
    """A pipeline task (``node_name``) has a ``parameter`` that names no task and has no
    default."""

    def __init__(
        self, node_name: str, parameter: str | None = None, message: str | None = None
    ) -> None:
        self.node_name = node_name
        self.parameter = parameter
        super().__init__(
            message
            or f"task {node_name!r}: parameter {parameter!r} matches no task and has no default"
        )

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_name, self.parameter, str(self))


class TaskTimeoutError(ExecutionError):
    """A node ran longer than its ``timeout`` (seconds); stored as its ``NodeResult.error``."""

    def __init__(
        self, node_name: str, timeout: float | None = None, message: str | None = None
    ) -> None:
        self.node_name = node_name
        self.timeout = timeout
        after = f" after {timeout:g}s" if isinstance(timeout, (int, float)) else ""
        super().__init__(message or f"node {node_name!r} timed out{after}")

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_name, self.timeout, str(self))


class ExecutionFailedError(ExecutionError):
    """Raised by ``ExecutionResult.raise_on_failure()``: not every node completed.

    ``failed``, ``timed_out``, ``cancelled`` and ``skipped`` list node names;
    ``errors`` maps each failed or timed-out node to ``"ExceptionType: message"``.
    """

    def __init__(
        self,
        failed: Sequence[str] = (),
        timed_out: Sequence[str] = (),
        cancelled: Sequence[str] = (),
        skipped: Sequence[str] = (),
        errors: dict[str, str] | None = None,
        total: int | None = None,
        message: str | None = None,
    ) -> None:
        self.failed = list(failed)
        self.timed_out = list(timed_out)
        self.cancelled = list(cancelled)
        self.skipped = list(skipped)
        self.errors = dict(errors or {})
        self.total = total
        super().__init__(message or self._summary())

    def _summary(self) -> str:
        parts = []
        for name in self.failed:
            parts.append(f"{name!r} failed ({self.errors.get(name, 'unknown error')})")
        for name in self.timed_out:
            parts.append(f"{name!r} timed out")
        if self.skipped:
            parts.append(f"skipped {_names(self.skipped)}")
        if self.cancelled:
            parts.append(f"cancelled {_names(self.cancelled)}")
        bad = len(self.failed) + len(self.timed_out) + len(self.skipped) + len(self.cancelled)
        of = f" of {self.total}" if self.total is not None else ""
        return f"{bad}{of} node(s) did not complete: " + "; ".join(parts)

    def _reduce_args(self) -> tuple[Any, ...]:
        return (
            self.failed,
            self.timed_out,
            self.cancelled,
            self.skipped,
            self.errors,
            self.total,
            str(self),
        )


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) stopped a run: unfinished nodes were CANCELLED and the
    workers stopped. ``result`` is the run's :class:`~dagron.ExecutionResult` as far as it
    got. A ``KeyboardInterrupt``, so an interrupted script still ends as interrupted, and
    ``except Exception`` does not swallow it."""

    def __init__(self, result: Any, message: str = "the run was interrupted") -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.result, str(self)))


# --- worker errors ---


class WorkerError(DagronError):
    """A problem with worker processes (the processes backend)."""


class WorkerLostError(WorkerError):
    """The worker running a node went away (killed, crashed, over its memory limit, cut
    off). The message says how, with the exit code or signal."""


class WorkerStartError(WorkerError):
    """Worker processes could not be started or did not connect in time."""


class SecurityError(WorkerError):
    """A coordinator or worker would run without the authentication it needs (listening
    beyond loopback without keys), or its key files are missing or unreadable."""


class SerializationError(ExecutionError):
    """A node's task, argument or result could not be pickled or unpickled.

    ``node_name`` is the node, ``type_name`` the type of the offending object and ``what``
    which part it was (``"task"``, ``"argument"`` or ``"result"``).
    """

    def __init__(
        self,
        node_name: str,
        type_name: str = "",
        what: str = "",
        detail: str = "",
        message: str | None = None,
    ) -> None:
        self.node_name = node_name
        self.type_name = type_name
        self.what = what
        self.detail = detail
        where = f"node {node_name!r}" if node_name else "a node"
        super().__init__(
            message
            or f"{where}: cannot serialize its {what or 'data'}: a {type_name!r} object "
            "cannot be pickled"
            + (f" ({detail})" if detail else "")
        )

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.node_name, self.type_name, self.what, self.detail, str(self))


class RemoteTaskError(ExecutionError):
    """A task raised an exception in another process whose type could not be sent back.

    ``type_name`` and ``remote_message`` describe the original exception; ``remote_traceback``
    is its traceback as text and ``worker`` where it ran.
    """

    def __init__(
        self,
        type_name: str,
        remote_message: str = "",
        remote_traceback: str = "",
        worker: str = "",
        message: str | None = None,
    ) -> None:
        self.type_name = type_name
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.worker = worker
        super().__init__(
            message or f"{type_name}: {remote_message} (raised on {worker or 'a worker'})"
        )

    def _reduce_args(self) -> tuple[Any, ...]:
        return (self.type_name, self.remote_message, self.remote_traceback, self.worker, str(self))
