"""What each node's call is given: nothing, or with ``pass_results`` its predecessors'
results by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ._core import DAG

if TYPE_CHECKING:
    from .node_result import NodeResult

__all__ = ["Inputs", "no_inputs"]

_NO_ARGS: tuple[Any, ...] = ()


def no_inputs(i: int) -> tuple[Any, ...]:
    """The arguments of a call when results are not passed: none."""
    return _NO_ARGS


class Inputs:
    """The arguments of node ``i``'s call when results are passed: one dict mapping each
    predecessor's name to its result, kept as the backend returned it (so results a backend
    keeps serialised are forwarded without a round trip). ``results`` is the run's list of
    node results, read when a call is made: its predecessors have finished by then."""

    def __init__(
        self, dag: DAG, names: Sequence[str], results: Sequence[NodeResult | None]
    ) -> None:
        index = {name: i for i, name in enumerate(names)}
        self._preds: list[list[int]] = [[] for _ in names]
        for src, dst in dag.edges():
            self._preds[index[dst]].append(index[src])
        self._names = names
        self._results = results

    def args(self, i: int) -> tuple[Any, ...]:
        """The arguments of node ``i``'s call."""
        names, results = self._names, self._results
        return ({names[p]: results[p]._result for p in self._preds[i]},)  # type: ignore[union-attr]
