"""DAGBuilder: fluent construction, everything validated at ``build()``."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import dagron
from dagron import (
    DAG,
    CycleError,
    DAGBuilder,
    DuplicateEdgeError,
    DuplicateNodeError,
    NodeNotFoundError,
)


def test_builder_from_dag_and_directly() -> None:
    assert isinstance(DAG.builder(), DAGBuilder)
    assert isinstance(DAGBuilder(), DAGBuilder)
    assert isinstance(dagron.DAGBuilder().build(), DAG)


def test_builder_methods_return_a_builder() -> None:
    b = DAG.builder()
    for step in (
        lambda: b.add_node("a"),
        lambda: b.add_nodes(["b", "c"]),
        lambda: b.add_edge("a", "b"),
        lambda: b.add_edges([("b", "c")]),
    ):
        assert isinstance(step(), DAGBuilder)


def test_builder_chain_builds_the_graph() -> None:
    dag = (
        DAG.builder()
        .add_node("a", {"p": 1}, {"m": 2})
        .add_nodes(["b", ("c", "pc"), ("d", None, "md")])
        .add_edge("a", "b", 1.5, "ab")
        .add_edges([("a", "c"), ("b", "d", 2.0), ("c", "d", None, "cd")])
        .build()
    )
    assert dag.nodes() == ["a", "b", "c", "d"]
    assert dag.edges() == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert dag.get_payload("a") == {"p": 1}
    assert dag.get_metadata("a") == {"m": 2}
    assert dag.get_payload("c") == "pc"
    assert dag.get_payload("d") is None
    assert dag.get_metadata("d") == "md"
    assert (dag.edge_weight("a", "b"), dag.edge_label("a", "b")) == (1.5, "ab")
    assert (dag.edge_weight("b", "d"), dag.edge_label("b", "d")) == (2.0, None)
    assert (dag.edge_weight("c", "d"), dag.edge_label("c", "d")) == (None, "cd")


def test_builder_keyword_arguments() -> None:
    dag = (
        DAG.builder()
        .add_node(name="a", payload=1, metadata=2)
        .add_node("b")
        .add_edge(from_node="a", to_node="b", weight=3.0, label="w")
        .build()
    )
    assert dag.get_payload("a") == 1
    assert dag.get_metadata("a") == 2
    assert dag.edge_weight("a", "b") == 3.0
    assert dag.edge_label("a", "b") == "w"


def test_builder_used_imperatively_keeps_every_step() -> None:
    b = DAG.builder()
    b.add_node("a")
    b.add_node("b")
    b.add_edge("a", "b")
    assert b.build().edges() == [("a", "b")]


def test_builder_edges_may_come_before_their_nodes() -> None:
    dag = DAG.builder().add_edge("x", "y").add_node("y").add_node("x").build()
    assert dag.nodes() == ["y", "x"]
    assert dag.edges() == [("x", "y")]
    assert dag.topological_sort() == ["x", "y"]


def test_builder_empty_builds_empty_dag() -> None:
    dag = DAG.builder().build()
    assert dag.node_count() == 0
    assert dag.edge_count() == 0


def test_builder_accepts_generators() -> None:
    names = [f"n{i}" for i in range(100)]
    dag = (
        DAG.builder()
        .add_nodes(n for n in names)
        .add_edges((u, v) for u, v in zip(names, names[1:]))
        .build()
    )
    assert dag.topological_sort() == names


def test_builder_can_build_twice_into_independent_dags() -> None:
    b = DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b")
    first = b.build()
    second = b.build()
    assert first is not second
    first.add_node("c")
    first.remove_edge("a", "b")
    assert second.nodes() == ["a", "b"]
    assert second.edges() == [("a", "b")]


def test_builder_keeps_adding_after_build() -> None:
    b = DAG.builder().add_nodes(["a", "b"])
    first = b.build()
    b.add_edge("a", "b")
    assert first.edge_count() == 0
    assert b.build().edge_count() == 1


# ----- validation happens at build() ------------------------------------------------------


def test_builder_cycle_is_reported_at_build_not_before() -> None:
    b = DAG.builder().add_nodes(["a", "b", "c"]).add_edges([("a", "b"), ("b", "c")])
    b = b.add_edge("c", "a")  # accepted: nothing is checked yet
    with pytest.raises(CycleError) as info:
        b.build()
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert set(zip(cycle, cycle[1:])) <= {("a", "b"), ("b", "c"), ("c", "a")}


def test_builder_large_cycle_reported_at_build() -> None:
    names = [f"n{i}" for i in range(200)]
    b = DAG.builder().add_nodes(names).add_edges(zip(names, names[1:]))
    b.add_edge("n199", "n100")
    with pytest.raises(CycleError) as info:
        b.build()
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    assert len(cycle) == 101
    assert set(cycle) == {f"n{i}" for i in range(100, 200)}


def test_builder_self_loop_reported_at_build() -> None:
    b = DAG.builder().add_node("a").add_edge("a", "a")
    with pytest.raises(CycleError) as info:
        b.build()
    assert info.value.cycle == ["a", "a"]


def test_builder_unknown_node_reported_at_build() -> None:
    b = DAG.builder().add_node("a").add_edge("a", "ghost")
    with pytest.raises(NodeNotFoundError) as info:
        b.build()
    assert info.value.node_name == "ghost"


def test_builder_duplicate_node_reported_at_build() -> None:
    b = DAG.builder().add_nodes(["a", "b"]).add_node("a")
    with pytest.raises(DuplicateNodeError) as info:
        b.build()
    assert info.value.node_name == "a"


def test_builder_duplicate_edge_reported_at_build() -> None:
    b = DAG.builder().add_nodes(["a", "b"]).add_edge("a", "b").add_edge("a", "b", 2.0)
    with pytest.raises(DuplicateEdgeError) as info:
        b.build()
    assert (info.value.from_node, info.value.to_node) == ("a", "b")


@pytest.mark.parametrize(
    "bad",
    [
        lambda b: b.add_node(1),
        lambda b: b.add_nodes([("a2",), 5]),
        lambda b: b.add_nodes([("a2", 1, 2, 3)]),
    ],
    ids=["int-name", "int-node", "four-tuple"],
)
def test_builder_bad_node_spec_is_a_type_error(bad: Callable[[DAGBuilder], Any]) -> None:
    b = DAG.builder().add_node("a")
    with pytest.raises(TypeError):
        bad(b).build()


def test_builder_bad_edge_spec_is_a_type_error() -> None:
    b = DAG.builder().add_nodes(["a", "b"]).add_edges([("a",)])  # type: ignore[list-item]
    with pytest.raises((TypeError, ValueError)):
        b.build()


def test_builder_failed_build_can_be_fixed_by_a_new_builder() -> None:
    b = DAG.builder().add_nodes(["a", "b"]).add_edges([("a", "b"), ("b", "a")])
    with pytest.raises(CycleError):
        b.build()
    with pytest.raises(CycleError):
        b.build()  # still invalid: the builder did not change


def test_builder_bulk_add_is_atomic_when_the_iterable_fails() -> None:
    def nodes() -> Iterator[str]:
        yield "x"
        yield "y"
        raise RuntimeError("boom")

    def edges() -> Iterator[tuple[str, str]]:
        yield ("a", "b")
        raise RuntimeError("boom")

    b = DAG.builder().add_nodes(["a", "b"])
    with pytest.raises(RuntimeError):
        b.add_nodes(nodes())
    with pytest.raises(RuntimeError):
        b.add_edges(edges())
    dag = b.build()
    assert dag.nodes() == ["a", "b"]
    assert dag.edges() == []
