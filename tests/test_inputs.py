"""Inputs: the arguments each node's call gets."""

from __future__ import annotations

from dagron import DAG, NodeResult, NodeStatus
from dagron._inputs import Inputs, no_inputs


def test_no_inputs_gives_no_arguments() -> None:
    assert no_inputs(3) == ()


def test_inputs_gives_each_node_its_predecessors_results_by_name() -> None:
    dag = DAG()
    for name in "abc":
        dag.add_node(name)
    dag.add_edge("a", "c")
    dag.add_edge("b", "c")
    names = ["a", "b", "c"]
    results: list[NodeResult | None] = [None, None, None]
    inputs = Inputs(dag, names, results)
    assert inputs.args(0) == ({},)
    # read when the call is made, not when Inputs was built
    results[0] = NodeResult("a", NodeStatus.COMPLETED, 1)
    results[1] = NodeResult("b", NodeStatus.COMPLETED, 2)
    assert inputs.args(2) == ({"a": 1, "b": 2},)
