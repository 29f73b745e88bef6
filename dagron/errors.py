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
