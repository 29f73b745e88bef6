"""The DAG object: construction, mutation, queries, Python protocols, payloads, atomicity."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Callable, Iterable, Iterator

import pytest

import dagron
from dagron import (
    DAG,
    CycleError,
    DagronError,
    DuplicateEdgeError,
    DuplicateNodeError,
    EdgeNotFoundError,
    NodeNotFoundError,
)

Snapshot = dict[str, Any]


def snapshot(dag: DAG) -> Snapshot:
    """Everything observable about a graph, for before/after comparisons."""
    nodes = dag.nodes()
    edges = dag.edges()
    return {
        "nodes": nodes,
        "edges": edges,
        "node_count": dag.node_count(),
        "edge_count": dag.edge_count(),
        "weights": [dag.edge_weight(u, v) for u, v in edges],
        "labels": [dag.edge_label(u, v) for u, v in edges],
        "payloads": [dag.get_payload(n) for n in nodes],
        "metadata": [dag.get_metadata(n) for n in nodes],
        "succ": {n: dag.successors(n) for n in nodes},
        "pred": {n: dag.predecessors(n) for n in nodes},
        "order": dag.topological_sort(),
        "levels": dag.topological_levels(),
    }


def diamond() -> DAG:
    dag = DAG()
    dag.add_nodes(["a", "b", "c", "d"])
    dag.add_edges([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    return dag


def chain(n: int, prefix: str = "n") -> DAG:
    dag = DAG()
    names = [f"{prefix}{i}" for i in range(n)]
    dag.add_nodes(names)
    dag.add_edges(list(zip(names, names[1:])))
    return dag


# ----- construction ----------------------------------------------------------------------


def test_graph_empty_dag() -> None:
    dag = DAG()
    assert dag.node_count() == 0
    assert dag.edge_count() == 0
    assert dag.nodes() == []
    assert dag.node_names() == []
    assert dag.edges() == []
    assert dag.roots() == []
    assert dag.leaves() == []
    assert len(dag) == 0
    assert list(dag) == []
    assert dag.topological_sort() == []
    assert dag.topological_levels() == []
    assert dag.is_acyclic()


def test_graph_add_node_and_edge_imperative() -> None:
    dag = DAG()
    dag.add_node("x")
    dag.add_node("y")
    dag.add_edge("x", "y")
    assert dag.nodes() == ["x", "y"]
    assert dag.edges() == [("x", "y")]
    assert dag.has_edge("x", "y")
    assert not dag.has_edge("y", "x")


def test_graph_add_node_keyword_arguments() -> None:
    dag = DAG()
    dag.add_node(name="a", payload={"rows": 2}, metadata={"owner": "me"})
    assert dag.get_payload("a") == {"rows": 2}
    assert dag.get_metadata("a") == {"owner": "me"}


def test_graph_add_node_defaults_payload_and_metadata_to_none() -> None:
    dag = DAG()
    dag.add_node("a")
    assert dag.get_payload("a") is None
    assert dag.get_metadata("a") is None


@pytest.mark.parametrize("bad", [1, None, b"bytes", ("a",), ["a"]])
def test_graph_add_node_rejects_non_str_names(bad: Any) -> None:
    dag = DAG()
    with pytest.raises(TypeError):
        dag.add_node(bad)
    assert dag.node_count() == 0


def test_graph_add_nodes_accepts_names_and_tuples() -> None:
    dag = DAG()
    dag.add_nodes(["a", ("b", 1), ("c", [2], {"m": 3})])
    assert dag.nodes() == ["a", "b", "c"]
    assert dag.get_payload("a") is None
    assert dag.get_payload("b") == 1
    assert dag.get_metadata("b") is None
    assert dag.get_payload("c") == [2]
    assert dag.get_metadata("c") == {"m": 3}


@pytest.mark.parametrize(
    "make",
    [
        lambda names: list(names),
        lambda names: tuple(names),
        lambda names: (n for n in names),
        lambda names: iter(names),
        lambda names: dict.fromkeys(names),
    ],
    ids=["list", "tuple", "generator", "iterator", "dict"],
)
def test_graph_add_nodes_accepts_any_iterable(make: Callable[[list[str]], Iterable[str]]) -> None:
    names = [f"n{i}" for i in range(50)]
    dag = DAG()
    dag.add_nodes(make(names))
    assert dag.nodes() == names


def test_graph_add_edges_accepts_attribute_tuples() -> None:
    dag = DAG()
    dag.add_nodes("abcd")
    dag.add_edges([("a", "b"), ("a", "c", 2.5), ("b", "d", None, "rows"), ("c", "d", 1, "x")])
    assert dag.edges() == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert dag.edge_weight("a", "b") is None
    assert dag.edge_label("a", "b") is None
    assert dag.edge_weight("a", "c") == 2.5
    assert dag.edge_label("a", "c") is None
    assert dag.edge_weight("b", "d") is None
    assert dag.edge_label("b", "d") == "rows"
    assert dag.edge_weight("c", "d") == 1.0
    assert isinstance(dag.edge_weight("c", "d"), float)
    assert dag.edge_label("c", "d") == "x"


def test_graph_add_edge_weight_and_label_keywords() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b", weight=3, label="three")
    assert dag.edge_weight("a", "b") == 3.0
    assert dag.edge_label("a", "b") == "three"


def test_graph_add_edges_from_generator() -> None:
    names = [f"n{i}" for i in range(1000)]
    dag = DAG()
    dag.add_nodes(names)
    dag.add_edges((u, v) for u, v in zip(names, names[1:]))
    assert dag.edge_count() == 999
    assert dag.topological_sort() == names


def test_graph_edge_attribute_queries_on_missing_edge_raise() -> None:
    dag = diamond()
    with pytest.raises(EdgeNotFoundError):
        dag.edge_weight("a", "d")
    with pytest.raises(EdgeNotFoundError):
        dag.edge_label("d", "a")


def test_graph_bulk_build_in_reverse_order() -> None:
    n = 20_000
    names = [f"n{i}" for i in range(n)]
    dag = DAG()
    dag.add_nodes(reversed(names))
    dag.add_edges(reversed(list(zip(names, names[1:]))))
    assert dag.edge_count() == n - 1
    assert dag.topological_sort() == names
    assert dag.roots() == ["n0"]
    assert dag.leaves() == [f"n{n - 1}"]


# ----- queries -----------------------------------------------------------------------------


def test_graph_counts_and_membership() -> None:
    dag = diamond()
    assert dag.node_count() == 4
    assert dag.edge_count() == 4
    assert dag.has_node("a")
    assert not dag.has_node("z")
    assert dag.has_edge("a", "b")
    assert not dag.has_edge("a", "d")
    assert not dag.has_edge("a", "missing")
    assert not dag.has_edge("missing", "a")


def test_graph_nodes_in_insertion_order() -> None:
    dag = DAG()
    names = ["zeta", "alpha", "mu", "ß", "名前", ""]
    dag.add_nodes(names)
    assert dag.nodes() == names
    assert dag.node_names() == names
    assert all(type(n) is str for n in dag.nodes())


def test_graph_edges_grouped_by_source_in_insertion_order() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b", "c", "d"])
    dag.add_edges([("b", "d"), ("a", "d"), ("a", "b"), ("c", "d"), ("a", "c")])
    assert dag.edges() == [("a", "d"), ("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    for e in dag.edges():
        assert type(e) is tuple
        assert all(type(x) is str for x in e)


def test_graph_neighbours_in_edge_insertion_order() -> None:
    dag = DAG()
    dag.add_nodes(["s", "x", "y", "z", "t"])
    dag.add_edges([("s", "z"), ("s", "x"), ("s", "y"), ("y", "t"), ("x", "t"), ("z", "t")])
    assert dag.successors("s") == ["z", "x", "y"]
    assert dag.predecessors("t") == ["y", "x", "z"]
    assert dag.successors("t") == []
    assert dag.predecessors("s") == []


def test_graph_ancestors_and_descendants() -> None:
    dag = DAG()
    dag.add_nodes(["e", "d", "c", "b", "a", "lonely"])
    dag.add_edges([("a", "b"), ("b", "c"), ("a", "d"), ("d", "e"), ("c", "e")])
    assert set(dag.ancestors("e")) == {"a", "b", "c", "d"}
    assert set(dag.descendants("a")) == {"b", "c", "d", "e"}
    assert dag.ancestors("a") == []
    assert dag.descendants("e") == []
    assert dag.ancestors("lonely") == []
    # No duplicates, and the order is the graph's insertion order (deterministic).
    assert dag.ancestors("e") == ["d", "c", "b", "a"]
    assert dag.descendants("a") == ["e", "d", "c", "b"]


def test_graph_degrees() -> None:
    dag = diamond()
    assert [dag.in_degree(n) for n in "abcd"] == [0, 1, 1, 2]
    assert [dag.out_degree(n) for n in "abcd"] == [2, 1, 1, 0]


def test_graph_roots_and_leaves() -> None:
    dag = DAG()
    dag.add_nodes(["leaf", "iso", "root", "mid"])
    dag.add_edges([("root", "mid"), ("mid", "leaf")])
    assert dag.roots() == ["iso", "root"]
    assert dag.leaves() == ["leaf", "iso"]


def test_graph_is_acyclic() -> None:
    assert diamond().is_acyclic()


# ----- payload and metadata ---------------------------------------------------------------


def test_graph_payload_is_stored_by_reference() -> None:
    dag = DAG()
    payload = {"rows": [1, 2]}
    meta = object()
    dag.add_node("a", payload, meta)
    assert dag.get_payload("a") is payload
    assert dag.get_metadata("a") is meta


def test_graph_set_payload_and_metadata() -> None:
    dag = diamond()
    dag.set_payload("b", 42)
    dag.set_metadata("b", {"owner": "ops"})
    assert dag.get_payload("b") == 42
    assert dag.get_metadata("b") == {"owner": "ops"}
    assert dag.get_payload("a") is None
    dag.set_payload("b", None)
    assert dag.get_payload("b") is None
    assert dag.get_metadata("b") == {"owner": "ops"}


def test_graph_payload_may_be_any_object() -> None:
    dag = DAG()

    def fn() -> int:
        return 1

    dag.add_nodes([("f", fn), ("s", {1, 2}), ("t", (1, "x"))])
    assert dag.get_payload("f") is fn
    assert dag.get_payload("s") == {1, 2}
    assert dag.get_payload("t") == (1, "x")


def test_graph_payload_reference_released_on_remove() -> None:
    import gc
    import weakref

    class Token:
        pass

    token = Token()
    ref = weakref.ref(token)
    dag = DAG()
    dag.add_node("a", token)
    del token
    gc.collect()
    assert ref() is not None
    dag.remove_node("a")
    gc.collect()
    assert ref() is None


# ----- protocols ---------------------------------------------------------------------------


def test_graph_len_in_iter() -> None:
    dag = diamond()
    assert len(dag) == 4
    assert "a" in dag
    assert "z" not in dag
    assert list(dag) == ["a", "b", "c", "d"]
    assert [n for n in dag] == dag.nodes()


@pytest.mark.parametrize("other", [1, None, ("a",), 3.5, b"a"])
def test_graph_contains_non_str_is_false(other: object) -> None:
    dag = diamond()
    assert (other in dag) is False


def test_graph_iter_is_stable_under_mutation() -> None:
    dag = diamond()
    it = iter(dag)
    first = next(it)
    dag.add_node("e")
    try:
        rest = list(it)
    except RuntimeError:
        return  # refusing to iterate a changed graph is fine too
    assert [first, *rest] in (["a", "b", "c", "d"], ["a", "b", "c", "d", "e"])


def test_graph_repr_mentions_counts() -> None:
    dag = diamond()
    text = repr(dag)
    assert "DAG" in text
    assert "4" in text
    assert repr(DAG()) != text


def test_graph_truthiness_follows_len() -> None:
    assert not DAG()
    assert diamond()


# ----- subgraph, copy, pickle, stats -------------------------------------------------------


def test_graph_subgraph_keeps_inner_edges_order_and_data() -> None:
    dag = DAG()
    dag.add_nodes(["a", ("b", "pb", "mb"), "c", "d"])
    dag.add_edges([("a", "b", 1.5, "ab"), ("b", "c"), ("c", "d"), ("a", "d")])
    sub = dag.subgraph(["d", "b", "a"])
    assert isinstance(sub, DAG)
    assert sub.nodes() == ["a", "b", "d"]
    assert sub.edges() == [("a", "b"), ("a", "d")]
    assert sub.edge_weight("a", "b") == 1.5
    assert sub.edge_label("a", "b") == "ab"
    assert sub.get_payload("b") == "pb"
    assert sub.get_metadata("b") == "mb"


def test_graph_subgraph_is_independent() -> None:
    dag = diamond()
    sub = dag.subgraph(["a", "b"])
    sub.add_node("new")
    sub.remove_edge("a", "b")
    assert dag.has_edge("a", "b")
    assert "new" not in dag
    dag.remove_node("a")
    assert "a" in sub


def test_graph_subgraph_empty_and_unknown() -> None:
    dag = diamond()
    assert dag.subgraph([]).node_count() == 0
    with pytest.raises(NodeNotFoundError):
        dag.subgraph(["a", "nope"])


def test_graph_copy_is_equal_and_independent() -> None:
    dag = DAG()
    dag.add_nodes([("a", {"p": 1}, {"m": 1}), "b", "c"])
    dag.add_edges([("a", "b", 2.0, "x"), ("b", "c")])
    clone = dag.copy()
    assert snapshot(clone) == snapshot(dag)
    clone.add_node("d")
    clone.add_edge("a", "c")
    clone.set_payload("b", "changed")
    assert "d" not in dag
    assert not dag.has_edge("a", "c")
    assert dag.get_payload("b") is None
    dag.remove_node("a")
    assert clone.has_node("a")


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_graph_copy_module_works(copier: Callable[[DAG], DAG]) -> None:
    dag = diamond()
    dag.set_payload("a", [1, 2])
    clone = copier(dag)
    assert snapshot(clone) == snapshot(dag)


def test_graph_pickle_round_trip_keeps_everything() -> None:
    dag = DAG()
    dag.add_nodes([("a", {"rows": [1, 2]}, {"o": 1}), ("b", (1, 2)), ("c", {3, 4}), 'ü "q"'])
    dag.add_edges([("a", "b", 0.1, "l"), ("a", "c"), ("c", 'ü "q"', 2.0)])
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(dag, protocol=protocol))
        assert isinstance(clone, DAG)
        assert snapshot(clone) == snapshot(dag)


def test_graph_stats_reports_shape() -> None:
    dag = diamond()
    dag.add_node("iso")
    stats = dag.stats()
    assert isinstance(stats, dict)
    assert stats["nodes"] == 5
    assert stats["edges"] == 4
    assert stats["roots"] == 2
    assert stats["leaves"] == 2
    assert stats["depth"] == 3
    assert stats["width"] == 2
    assert stats["max_in_degree"] == 2
    assert stats["max_out_degree"] == 2
    assert stats["density"] == pytest.approx(4 / (5 * 4 / 2))


def test_graph_stats_of_empty_and_single_node_graphs() -> None:
    empty = DAG().stats()
    assert empty["nodes"] == 0
    assert empty["edges"] == 0
    assert empty["depth"] == 0
    assert empty["width"] == 0
    assert empty["density"] == 0.0
    one = DAG()
    one.add_node("a")
    assert one.stats()["depth"] == 1
    assert one.stats()["density"] == 0.0


# ----- removal -----------------------------------------------------------------------------


def test_graph_remove_node_drops_incident_edges() -> None:
    dag = diamond()
    dag.remove_node("b")
    assert dag.nodes() == ["a", "c", "d"]
    assert dag.edges() == [("a", "c"), ("c", "d")]
    assert dag.edge_count() == 2
    assert dag.out_degree("a") == 1
    assert dag.in_degree("d") == 1
    assert "b" not in dag
    assert not dag.has_edge("a", "b")


def test_graph_names_resolve_by_value_not_identity() -> None:
    # Names are looked up by the very objects first, then by text: equal strings built
    # separately, non-ASCII names and names freed by the caller all resolve.
    parts = ["sé", "ß", "数据", "plain"]
    dag = DAG()
    dag.add_nodes(["".join(parts[:2]), "".join(parts[2:])])
    dag.add_edge("".join(parts[:2]), "".join(parts[2:]))
    assert dag.has_edge("séß", "数据plain")
    assert dag.successors("séß") == ["数据plain"]
    dag.remove_node("séß")
    dag.add_node("".join(parts[:2]))
    assert dag.nodes() == ["数据plain", "séß"]
    assert dag.has_node("séß") and not dag.has_edge("séß", "数据plain")


def test_graph_remove_node_frees_name_and_new_node_goes_last() -> None:
    dag = DAG()
    dag.add_nodes([("a", "old"), "b", "c"])
    dag.remove_node("a")
    dag.add_node("a")
    assert dag.nodes() == ["b", "c", "a"]
    assert dag.get_payload("a") is None
    assert dag.topological_sort() == ["b", "c", "a"]


def test_graph_remove_node_then_algorithms_still_work() -> None:
    dag = chain(6)
    dag.remove_node("n2")
    assert dag.topological_sort() == ["n0", "n1", "n3", "n4", "n5"]
    assert dag.topological_levels() == [["n0", "n3"], ["n1", "n4"], ["n5"]]
    assert dag.roots() == ["n0", "n3"]
    assert dag.critical_path() == ["n3", "n4", "n5"]
    assert dag.subgraph(["n5", "n4"]).edges() == [("n4", "n5")]
    assert DAG.from_json(dag.to_json()).edges() == dag.edges()


def test_graph_remove_node_unknown_raises() -> None:
    dag = diamond()
    before = snapshot(dag)
    with pytest.raises(NodeNotFoundError):
        dag.remove_node("zz")
    assert snapshot(dag) == before


def test_graph_remove_edge() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b", "c", "d"])
    dag.add_edges([("a", "b", 1.0, "w"), ("a", "c"), ("a", "d")])
    dag.remove_edge("a", "b")
    assert dag.edges() == [("a", "c"), ("a", "d")]
    assert dag.edge_count() == 2
    assert dag.in_degree("b") == 0
    assert dag.successors("a") == ["c", "d"]
    assert not dag.has_edge("a", "b")


def test_graph_remove_edge_then_readd_has_fresh_attributes() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b", 1.0, "w")
    dag.remove_edge("a", "b")
    dag.add_edge("a", "b")
    assert dag.edge_weight("a", "b") is None
    assert dag.edge_label("a", "b") is None


def test_graph_remove_edge_allows_reverse_edge() -> None:
    dag = chain(3)
    with pytest.raises(CycleError):
        dag.add_edge("n2", "n0")
    dag.remove_edge("n1", "n2")
    dag.add_edge("n2", "n0")
    assert dag.topological_sort() == ["n2", "n0", "n1"]


def test_graph_remove_edge_unknown_raises() -> None:
    dag = diamond()
    before = snapshot(dag)
    with pytest.raises(EdgeNotFoundError) as info:
        dag.remove_edge("a", "d")
    assert (info.value.from_node, info.value.to_node) == ("a", "d")
    with pytest.raises((EdgeNotFoundError, NodeNotFoundError)):
        dag.remove_edge("a", "zz")
    assert snapshot(dag) == before


# ----- single-operation errors leave the graph unchanged ----------------------------------


def test_graph_add_node_duplicate_leaves_graph_unchanged() -> None:
    dag = DAG()
    dag.add_node("a", "payload")
    with pytest.raises(DuplicateNodeError):
        dag.add_node("a", "other")
    assert dag.get_payload("a") == "payload"
    assert dag.node_count() == 1


def test_graph_add_edge_errors_leave_graph_unchanged() -> None:
    dag = diamond()
    before = snapshot(dag)
    with pytest.raises(CycleError):
        dag.add_edge("d", "a", 1.0, "back")
    with pytest.raises(CycleError):
        dag.add_edge("b", "b")
    with pytest.raises(DuplicateEdgeError):
        dag.add_edge("a", "b", 9.0, "again")
    with pytest.raises(NodeNotFoundError):
        dag.add_edge("a", "nope")
    assert snapshot(dag) == before


# ----- atomicity of bulk operations on every error kind ------------------------------------


def _raising_iter(items: list[Any], exc: BaseException) -> Iterator[Any]:
    yield from items
    raise exc


def _prepared() -> DAG:
    dag = DAG()
    dag.add_nodes([("a", 1, "ma"), "b", "c", "d", "e"])
    dag.add_edges([("a", "b", 0.5, "ab"), ("b", "c"), ("a", "d")])
    return dag


NODE_BATCH_ERRORS: list[tuple[str, Callable[[], Iterable[Any]], Any]] = [
    ("duplicate-in-batch", lambda: ["x", "y", "x"], DuplicateNodeError),
    ("duplicate-of-existing", lambda: ["x", "y", "a"], DuplicateNodeError),
    ("duplicate-tuple-of-existing", lambda: ["x", ("b", 1)], DuplicateNodeError),
    ("non-str-name", lambda: ["x", "y", 3], TypeError),
    ("none-name", lambda: ["x", None], TypeError),
    ("non-str-name-in-tuple", lambda: ["x", (3, "payload")], TypeError),
    ("empty-tuple", lambda: ["x", ()], (TypeError, ValueError)),
    ("four-tuple", lambda: ["x", ("y", 1, 2, 3)], (TypeError, ValueError)),
    ("lone-surrogate", lambda: ["x", "bad \ud800 name"], ValueError),
    ("iterator-raises", lambda: _raising_iter(["x", "y"], RuntimeError("boom")), RuntimeError),
]


@pytest.mark.parametrize(
    ("batch", "error"),
    [(b, e) for _, b, e in NODE_BATCH_ERRORS],
    ids=[i for i, _, _ in NODE_BATCH_ERRORS],
)
def test_graph_add_nodes_is_atomic(batch: Callable[[], Iterable[Any]], error: Any) -> None:
    dag = _prepared()
    before = snapshot(dag)
    with pytest.raises(error):
        dag.add_nodes(batch())
    assert snapshot(dag) == before
    assert "x" not in dag
    assert "y" not in dag
    # The graph is fully usable afterwards and the batch's fresh names are free.
    dag.add_nodes(["x", "y"])
    dag.add_edge("x", "y")
    assert dag.nodes()[-2:] == ["x", "y"]


NODE_BATCH_FIRST_ERRORS: list[tuple[str, Callable[[], Iterable[Any]], Any]] = [
    ("duplicate-then-bad-name", lambda: ["x", "a", 3], DuplicateNodeError),
    ("bad-name-then-duplicate", lambda: ["x", 3, "a"], TypeError),
    (
        "duplicate-then-iterator-raises",
        lambda: _raising_iter(["x", "x"], RuntimeError("boom")),
        DuplicateNodeError,
    ),
    (
        "late-duplicate-in-a-long-batch",
        lambda: [f"n{i}" for i in range(5000)] + ["n17", 3],
        DuplicateNodeError,
    ),
]


@pytest.mark.parametrize(
    ("batch", "error"),
    [(b, e) for _, b, e in NODE_BATCH_FIRST_ERRORS],
    ids=[i for i, _, _ in NODE_BATCH_FIRST_ERRORS],
)
def test_graph_add_nodes_raises_the_first_error_in_order(
    batch: Callable[[], Iterable[Any]], error: Any
) -> None:
    # Names are checked for duplicates after the batch is parsed (in one pass); the error
    # raised is still the one of the earliest bad item.
    dag = _prepared()
    before = snapshot(dag)
    with pytest.raises(error):
        dag.add_nodes(batch())
    assert snapshot(dag) == before
    assert dag.successors("a") == ["b", "d"]


def test_graph_large_add_nodes_with_a_late_duplicate_leaves_no_trace() -> None:
    # A batch this large files its name objects on a second thread while the names are
    # checked; on the duplicate at its end, none of those entries may survive.
    dag = _prepared()
    before = snapshot(dag)
    batch = [f"big{i}" for i in range(40_000)]
    with pytest.raises(DuplicateNodeError):
        dag.add_nodes([*batch, "a"])
    assert snapshot(dag) == before
    # The same names again, as other objects and in reverse order, take the ids the failed
    # batch had: a left-over entry for an old object would now name the wrong node.
    dag.add_nodes([f"big{i}" for i in reversed(range(40_000))])
    dag.add_edge(batch[5], batch[7])
    assert dag.successors("big5") == ["big7"]
    assert dag.predecessors(batch[7]) == ["big5"]
    assert len(dag) == before["node_count"] + 40_000


def _big_cycle_batch() -> list[tuple[str, str]]:
    # More than a handful of edges, so the bindings take the whole-graph check path.
    names = [f"k{i}" for i in range(40)]
    return [*zip(names, names[1:]), ("k39", "k0")]


EDGE_BATCH_ERRORS: list[tuple[str, Callable[[], Iterable[Any]], Any]] = [
    ("unknown-target", lambda: [("c", "e"), ("d", "e"), ("e", "zz")], NodeNotFoundError),
    ("unknown-source", lambda: [("c", "e"), ("zz", "e")], NodeNotFoundError),
    ("duplicate-of-existing", lambda: [("c", "e"), ("a", "b")], DuplicateEdgeError),
    ("duplicate-in-batch", lambda: [("c", "e"), ("d", "e"), ("c", "e")], DuplicateEdgeError),
    ("small-cycle", lambda: [("c", "e"), ("e", "a")], CycleError),
    ("self-loop", lambda: [("c", "e"), ("e", "e")], CycleError),
    ("large-cycle", lambda: [("c", "e"), ("d", "e"), *_big_cycle_batch()], CycleError),
    (
        "large-cycle-through-existing",
        lambda: [("e", f"k{i}") for i in range(20)] + [("c", "e"), ("e", "a")],
        CycleError,
    ),
    ("one-tuple", lambda: [("c", "e"), ("d",)], (TypeError, ValueError)),
    ("five-tuple", lambda: [("c", "e"), ("d", "e", 1.0, "l", "x")], (TypeError, ValueError)),
    ("not-a-tuple", lambda: [("c", "e"), 7], TypeError),
    # A non-str name is looked up like a dict key: it is simply not a node.
    ("non-str-endpoint", lambda: [("c", "e"), ("d", 5)], (TypeError, NodeNotFoundError)),
    ("bad-weight", lambda: [("c", "e"), ("d", "e", "heavy")], TypeError),
    ("bad-label", lambda: [("c", "e"), ("d", "e", 1.0, 5)], TypeError),
    (
        "iterator-raises",
        lambda: _raising_iter([("c", "e"), ("d", "e")], RuntimeError("boom")),
        RuntimeError,
    ),
]


@pytest.mark.parametrize(
    ("batch", "error"),
    [(b, e) for _, b, e in EDGE_BATCH_ERRORS],
    ids=[i for i, _, _ in EDGE_BATCH_ERRORS],
)
def test_graph_add_edges_is_atomic(batch: Callable[[], Iterable[Any]], error: Any) -> None:
    dag = _prepared()
    dag.add_nodes([f"k{i}" for i in range(40)])
    before = snapshot(dag)
    with pytest.raises(error):
        dag.add_edges(batch())
    assert snapshot(dag) == before
    # Usable afterwards: the batch's valid edges can now be added one by one.
    dag.add_edge("c", "e")
    dag.add_edge("d", "e")
    assert dag.edge_count() == before["edge_count"] + 2


class _EmptiesList:
    """A weight whose conversion to float empties the edge list being added."""

    def __init__(self, edges: list[Any]) -> None:
        self.edges = edges

    def __float__(self) -> float:
        self.edges.clear()
        return 2.0


def test_graph_add_edges_from_a_list_a_weight_empties_stops_where_the_list_ends() -> None:
    # add_edges reads a list's items in place; Python code run meanwhile (here a weight's
    # __float__) may change the list, and the loop must then behave as iterating it would.
    dag = DAG()
    dag.add_nodes(["a", "b", "c", "d"])
    edges: list[Any] = [("a", "b"), ("b", "c", None), ("c", "d")]
    edges[1] = ("b", "c", _EmptiesList(edges))
    dag.add_edges(edges)
    assert edges == []
    assert dag.edges() == [("a", "b"), ("b", "c")]
    assert dag.edge_weight("b", "c") == 2.0


def test_graph_add_edges_iterates_a_list_subclass_its_own_way() -> None:
    class FirstOnly(list[Any]):
        def __iter__(self) -> Any:
            return iter(self[:1])

    dag = DAG()
    dag.add_nodes(["a", "b", "c"])
    dag.add_edges(FirstOnly([("a", "b"), ("b", "c")]))
    assert dag.edges() == [("a", "b")]


def test_graph_add_edges_cycle_error_path_is_real() -> None:
    dag = _prepared()
    dag.add_nodes([f"k{i}" for i in range(40)])
    batch = _big_cycle_batch()
    with pytest.raises(CycleError) as info:
        dag.add_edges(batch)
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    allowed = set(dag.edges()) | set(batch)
    assert all(pair in allowed for pair in zip(cycle, cycle[1:]))
    assert len(set(cycle)) == len(cycle) - 1


def test_graph_errors_are_dagron_errors() -> None:
    dag = diamond()
    for call in (
        lambda: dag.add_node("a"),
        lambda: dag.add_edge("d", "a"),
        lambda: dag.add_edge("a", "b"),
        lambda: dag.remove_edge("a", "d"),
        lambda: dag.remove_node("q"),
    ):
        with pytest.raises(DagronError):
            call()


def test_graph_module_exports() -> None:
    assert dagron.DAG is DAG
    assert isinstance(dagron.DAG.builder(), dagron.DAGBuilder)
    assert isinstance(dagron.__version__, str)
    assert dagron.__version__.count(".") >= 2
    assert {"DAG", "DAGBuilder"} <= set(dagron.__all__)
