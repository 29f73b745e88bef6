"""Order algorithms: topological_sort, topological_levels, critical_path."""

from __future__ import annotations

import pytest

from dagron import DAG, NodeNotFoundError

FAN_OUT_NODES = ["extract_api", "extract_db", "transform_api", "transform_db", "merge", "load"]
FAN_OUT_EDGES = [
    ("extract_api", "transform_api"),
    ("extract_db", "transform_db"),
    ("transform_api", "merge"),
    ("transform_db", "merge"),
    ("merge", "load"),
]


def fan_out() -> DAG:
    dag = DAG()
    dag.add_nodes(FAN_OUT_NODES)
    dag.add_edges(FAN_OUT_EDGES)
    return dag


def make(nodes: list[str], edges: list[tuple[str, str]]) -> DAG:
    dag = DAG()
    dag.add_nodes(nodes)
    dag.add_edges(edges)
    return dag


# ----- topological_sort --------------------------------------------------------------------


def test_order_sort_seed_fan_out() -> None:
    assert fan_out().topological_sort() == FAN_OUT_NODES


def test_order_sort_ties_follow_insertion_order() -> None:
    assert make(["c", "b", "a"], []).topological_sort() == ["c", "b", "a"]
    assert make(["b", "a", "c"], [("c", "a")]).topological_sort() == ["b", "c", "a"]


def test_order_sort_prefers_smallest_insertion_index_not_fifo() -> None:
    # r1 frees b, then r2 frees a. A FIFO Kahn gives r1 r2 b a; the insertion-order
    # tie-break picks whichever ready node was inserted first: a before b.
    dag = make(["r1", "r2", "a", "b"], [("r1", "b"), ("r2", "a")])
    assert dag.topological_sort() == ["r1", "r2", "a", "b"]


def test_order_sort_independent_of_edge_insertion_order() -> None:
    forward = fan_out()
    backward = DAG()
    backward.add_nodes(FAN_OUT_NODES)
    backward.add_edges(list(reversed(FAN_OUT_EDGES)))
    assert backward.topological_sort() == forward.topological_sort()


def test_order_sort_reverse_inserted_chain() -> None:
    names = [f"n{i}" for i in range(10)]
    dag = make(list(reversed(names)), list(zip(names, names[1:])))
    assert dag.topological_sort() == names


def test_order_sort_after_remove_and_readd_puts_new_node_last_among_ties() -> None:
    dag = make(["a", "b", "c"], [])
    dag.remove_node("a")
    dag.add_node("a")
    assert dag.topological_sort() == ["b", "c", "a"]


def test_order_sort_respects_every_edge() -> None:
    dag = make(list("abcdefgh"), [("h", "a"), ("g", "b"), ("a", "b"), ("f", "h"), ("e", "f")])
    pos = {n: i for i, n in enumerate(dag.topological_sort())}
    assert sorted(pos) == sorted(dag.nodes())
    assert all(pos[u] < pos[v] for u, v in dag.edges())


# ----- topological_levels ------------------------------------------------------------------


def test_order_levels_seed_fan_out() -> None:
    assert fan_out().topological_levels() == [
        ["extract_api", "extract_db"],
        ["transform_api", "transform_db"],
        ["merge"],
        ["load"],
    ]


def test_order_levels_use_longest_path_depth() -> None:
    # c is one hop from a but two hops via b: it belongs to level 2.
    dag = make(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "c"), ("a", "d")])
    assert dag.topological_levels() == [["a"], ["b", "d"], ["c"]]


def test_order_levels_in_insertion_order_within_a_level() -> None:
    dag = make(["z", "y", "x", "root"], [("root", "x"), ("root", "z"), ("root", "y")])
    assert dag.topological_levels() == [["root"], ["z", "y", "x"]]


def test_order_levels_isolated_nodes_are_level_zero() -> None:
    dag = make(["a", "b", "c"], [("a", "b")])
    assert dag.topological_levels() == [["a", "c"], ["b"]]


def test_order_levels_partition_the_nodes() -> None:
    dag = fan_out()
    flat = [n for level in dag.topological_levels() for n in level]
    assert sorted(flat) == sorted(dag.nodes())


def test_order_levels_long_chain() -> None:
    names = [f"n{i}" for i in range(2000)]
    dag = make(names, list(zip(names, names[1:])))
    assert dag.topological_levels() == [[n] for n in names]


# ----- critical_path -------------------------------------------------------------------------


def test_order_critical_path_without_costs_counts_nodes() -> None:
    dag = fan_out()
    # Both branches have four nodes; the tie goes to the branch inserted first.
    assert dag.critical_path() == ["extract_api", "transform_api", "merge", "load"]
    assert dag.critical_path(None) == ["extract_api", "transform_api", "merge", "load"]
    assert dag.critical_path_length() == 4.0


def test_order_critical_path_with_costs() -> None:
    dag = fan_out()
    costs = {"extract_db": 5.0}
    assert dag.critical_path(costs) == ["extract_db", "transform_db", "merge", "load"]
    # Unlisted nodes cost 1 each: 5 + 1 + 1 + 1.
    assert dag.critical_path_length(costs) == 8.0


def test_order_critical_path_costs_every_node() -> None:
    dag = fan_out()
    costs = {
        "extract_api": 0.5,
        "extract_db": 0.3,
        "transform_api": 0.1,
        "transform_db": 0.4,
        "merge": 0.2,
        "load": 0.1,
    }
    assert dag.critical_path(costs) == ["extract_db", "transform_db", "merge", "load"]
    assert dag.critical_path_length(costs) == pytest.approx(1.0)


def test_order_critical_path_longest_by_hops_beats_shortcut() -> None:
    dag = make(["a", "b", "c", "d"], [("a", "d"), ("a", "b"), ("b", "c"), ("c", "d")])
    assert dag.critical_path() == ["a", "b", "c", "d"]
    free_middle = {"b": 0.0, "c": 0.0}
    assert dag.critical_path(free_middle) in (["a", "b", "c", "d"], ["a", "d"])
    assert dag.critical_path_length(free_middle) == 2.0


def test_order_critical_path_heavy_single_node() -> None:
    dag = make(["a", "b", "heavy"], [("a", "b")])
    assert dag.critical_path({"heavy": 10}) == ["heavy"]
    assert dag.critical_path_length({"heavy": 10}) == 10.0


def test_order_critical_path_of_empty_graph() -> None:
    assert DAG().critical_path() == []
    assert DAG().critical_path_length() == 0.0


def test_order_critical_path_rejects_bad_costs() -> None:
    dag = fan_out()
    with pytest.raises(ValueError):
        dag.critical_path({"merge": -1.0})
    with pytest.raises(ValueError):
        dag.critical_path({"merge": float("nan")})
    with pytest.raises(ValueError):
        dag.critical_path_length({"merge": float("inf")})
    with pytest.raises(NodeNotFoundError):
        dag.critical_path({"nope": 1.0})
    with pytest.raises(TypeError):
        dag.critical_path({"merge": "slow"})  # type: ignore[dict-item]


def test_order_is_acyclic_is_true() -> None:
    assert fan_out().is_acyclic()
    assert DAG().is_acyclic()
