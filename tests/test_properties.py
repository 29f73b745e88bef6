"""Property-based tests on random DAGs, each checked against a plain-Python reference."""

from __future__ import annotations

import heapq
import pickle
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dagron import DAG, CycleError, DuplicateEdgeError, DuplicateNodeError, NodeNotFoundError

# Modest budgets: CI has two cores shared with the rest of the suite.
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EdgeSpec = tuple[str, str, Optional[float], Optional[str]]

text_no_surrogates = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_no_surrogates,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(text_no_surrogates, children, max_size=4)
    ),
    max_leaves=12,
)
weights = st.none() | st.floats(allow_nan=False, allow_infinity=False)
labels = st.none() | text_no_surrogates


@dataclass
class Spec:
    """A random DAG: nodes in insertion order, edges in insertion order."""

    names: list[str]
    edges: list[EdgeSpec]
    payloads: list[Any] = field(default_factory=list)
    metadata: list[Any] = field(default_factory=list)

    def build(self) -> DAG:
        dag = DAG()
        dag.add_nodes(list(zip(self.names, self.payloads, self.metadata)))
        dag.add_edges(self.edges)
        return dag


@st.composite
def dag_specs(draw: st.DrawFn, max_nodes: int = 24, max_edges: int = 60) -> Spec:
    names = draw(st.lists(text_no_surrogates, unique=True, max_size=max_nodes))
    n = len(names)
    # A hidden order, unrelated to insertion order, that every edge goes forward in.
    hidden = draw(st.permutations(range(n)))
    pairs: list[tuple[int, int]] = []
    if n > 1:
        raw = draw(
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                max_size=max_edges,
            )
        )
        seen: set[tuple[int, int]] = set()
        for i, j in raw:
            if i == j:
                continue
            a, b = (i, j) if i < j else (j, i)
            edge = (hidden[a], hidden[b])
            if edge not in seen:
                seen.add(edge)
                pairs.append(edge)
    edges: list[EdgeSpec] = [(names[u], names[v], draw(weights), draw(labels)) for u, v in pairs]
    payloads = [draw(json_values) for _ in names]
    metadata = [draw(json_values) for _ in names]
    return Spec(names, edges, payloads, metadata)


# ----- plain-Python references ---------------------------------------------------------------


def ref_succ(names: list[str], edges: list[tuple[str, str]]) -> dict[str, list[str]]:
    succ: dict[str, list[str]] = {n: [] for n in names}
    for u, v in edges:
        succ[u].append(v)
    return succ


def ref_kahn(names: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's algorithm taking the ready node inserted first (smallest index) each time."""
    index = {n: i for i, n in enumerate(names)}
    succ = ref_succ(names, edges)
    indeg = dict.fromkeys(names, 0)
    for _, v in edges:
        indeg[v] += 1
    heap = [index[n] for n in names if indeg[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        n = names[heapq.heappop(heap)]
        order.append(n)
        for s in succ[n]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(heap, index[s])
    return order


def ref_depths(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest path (in edges) from any root to each node."""
    pred: dict[str, list[str]] = {n: [] for n in names}
    for u, v in edges:
        pred[v].append(u)
    depth: dict[str, int] = {}
    for n in ref_kahn(names, edges):
        depth[n] = max((depth[p] + 1 for p in pred[n]), default=0)
    return depth


def ref_levels(names: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    depth = ref_depths(names, edges)
    levels: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in names:
        levels[depth[n]].append(n)
    return levels


def ref_reach(names: list[str], edges: list[tuple[str, str]], start: str) -> set[str]:
    succ = ref_succ(names, edges)
    seen: set[str] = set()
    stack = [start]
    while stack:
        for s in succ[stack.pop()]:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


def has_cycle(names: list[str], edges: list[tuple[str, str]]) -> bool:
    return len(ref_kahn(names, edges)) < len(names)


def canon(v: Any) -> Any:
    """A comparison key that tells 1 from 1.0 from True, -0.0 from 0.0, and float bits apart."""
    if v is None or isinstance(v, (bool, str)):
        return (type(v).__name__, v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v.hex())
    if isinstance(v, list):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        # JSON objects are unordered; key order is not part of the value.
        return ("dict", tuple(sorted((k, canon(x)) for k, x in v.items())))
    raise TypeError(f"not a JSON value: {v!r}")


def observed(dag: DAG) -> dict[str, Any]:
    nodes = dag.nodes()
    edges = dag.edges()
    return {
        "nodes": nodes,
        "edges": edges,
        "weights": [canon(dag.edge_weight(u, v)) for u, v in edges],
        "labels": [dag.edge_label(u, v) for u, v in edges],
        "payloads": [canon(dag.get_payload(n)) for n in nodes],
        "metadata": [canon(dag.get_metadata(n)) for n in nodes],
    }


def plain_edges(spec: Spec) -> list[tuple[str, str]]:
    return [(u, v) for u, v, _, _ in spec.edges]


# ----- properties ----------------------------------------------------------------------------


@PROPERTY
@given(dag_specs())
def test_properties_build_matches_spec(spec: Spec) -> None:
    dag = spec.build()
    assert dag.nodes() == spec.names
    assert dag.node_count() == len(spec.names) == len(dag)
    assert dag.edge_count() == len(spec.edges)
    succ = ref_succ(spec.names, plain_edges(spec))
    assert dag.edges() == [(u, v) for u in spec.names for v in succ[u]]
    assert all(dag.successors(n) == succ[n] for n in spec.names)


@PROPERTY
@given(dag_specs())
def test_properties_topological_order_respects_every_edge(spec: Spec) -> None:
    dag = spec.build()
    order = dag.topological_sort()
    assert sorted(order) == sorted(spec.names)
    position = {n: i for i, n in enumerate(order)}
    assert all(position[u] < position[v] for u, v in dag.edges())


@PROPERTY
@given(dag_specs())
def test_properties_topological_sort_is_smallest_index_first_kahn(spec: Spec) -> None:
    assert spec.build().topological_sort() == ref_kahn(spec.names, plain_edges(spec))


@PROPERTY
@given(dag_specs())
def test_properties_levels_equal_longest_path_depth(spec: Spec) -> None:
    dag = spec.build()
    levels = dag.topological_levels()
    assert levels == ref_levels(spec.names, plain_edges(spec))
    # And the defining property, stated directly: every edge climbs at least one level.
    depth = {n: d for d, level in enumerate(levels) for n in level}
    assert all(depth[u] < depth[v] for u, v in dag.edges())
    assert all(
        depth[n] == 0 or any(depth[p] == depth[n] - 1 for p in dag.predecessors(n))
        for n in spec.names
    )


@PROPERTY
@given(dag_specs())
def test_properties_json_round_trip_is_identity(spec: Spec) -> None:
    dag = spec.build()
    text = dag.to_json()
    back = DAG.from_json(text)
    assert observed(back) == observed(dag)
    assert back.to_json() == text


@PROPERTY
@given(dag_specs())
def test_properties_pickle_round_trip_is_identity(spec: Spec) -> None:
    dag = spec.build()
    assert observed(pickle.loads(pickle.dumps(dag))) == observed(dag)
    assert observed(dag.copy()) == observed(dag)


@PROPERTY
@given(dag_specs(), st.data())
def test_properties_reachability_matches_reference(spec: Spec, data: st.DataObject) -> None:
    if not spec.names:
        return
    dag = spec.build()
    edges = plain_edges(spec)
    node = data.draw(st.sampled_from(spec.names))
    reverse = [(v, u) for u, v in edges]
    assert set(dag.descendants(node)) == ref_reach(spec.names, edges, node)
    assert set(dag.ancestors(node)) == ref_reach(spec.names, reverse, node)
    assert len(dag.descendants(node)) == len(set(dag.descendants(node)))


@PROPERTY
@given(dag_specs(), st.data())
def test_properties_subgraph_is_the_induced_subgraph(spec: Spec, data: st.DataObject) -> None:
    dag = spec.build()
    keep = data.draw(st.lists(st.sampled_from(spec.names), unique=True)) if spec.names else []
    sub = dag.subgraph(keep)
    kept = set(keep)
    assert sub.nodes() == [n for n in spec.names if n in kept]
    assert sub.edges() == [(u, v) for u, v in dag.edges() if u in kept and v in kept]


@PROPERTY
@given(dag_specs())
def test_properties_critical_path_is_a_longest_path(spec: Spec) -> None:
    dag = spec.build()
    path = dag.critical_path()
    depth = ref_depths(spec.names, plain_edges(spec))
    longest = max(depth.values(), default=-1) + 1
    assert len(path) == longest
    assert dag.critical_path_length() == float(longest)
    assert all(dag.has_edge(u, v) for u, v in zip(path, path[1:]))


@st.composite
def cyclic_batches(draw: st.DrawFn) -> tuple[Spec, list[EdgeSpec]]:
    """A DAG and an edge batch with no unknown names and no duplicates, but with a cycle."""
    spec = draw(dag_specs(max_nodes=16, max_edges=40).filter(lambda s: len(s.names) > 0))
    names = spec.names
    existing = set(plain_edges(spec))
    # The cycle: k distinct nodes in a ring (k == 1 is a self-loop); ring edges already in
    # the graph are left out of the batch, the rest go in.
    ring = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=6))
    ring_edges = list(zip(ring, ring[1:] + ring[:1]))
    taken = set(existing)
    batch: list[EdgeSpec] = []
    for u, v in ring_edges:
        if (u, v) not in taken:
            taken.add((u, v))
            batch.append((u, v, draw(weights), draw(labels)))
    # Extra edges in any direction (so the batch may be larger than the incremental check's
    # threshold, exercising the whole-graph check too).
    extras = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=30))
    for u, v in extras:
        if (u, v) not in taken:
            taken.add((u, v))
            batch.append((u, v, None, None))
    batch = draw(st.permutations(batch))
    return spec, list(batch)


@PROPERTY
@given(cyclic_batches())
def test_properties_bulk_insert_with_a_cycle_changes_nothing(
    case: tuple[Spec, list[EdgeSpec]],
) -> None:
    spec, batch = case
    dag = spec.build()
    all_edges = plain_edges(spec) + [(u, v) for u, v, _, _ in batch]
    assert has_cycle(spec.names, all_edges)
    before = observed(dag)
    order_before = dag.topological_sort()
    with pytest.raises(CycleError) as info:
        dag.add_edges(batch)
    assert observed(dag) == before
    assert dag.topological_sort() == order_before
    cycle = info.value.cycle
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, "the cycle repeats a node"
    allowed = set(all_edges)
    assert all(pair in allowed for pair in zip(cycle, cycle[1:]))


@PROPERTY
@given(dag_specs(max_nodes=16, max_edges=40), st.data())
def test_properties_acyclic_batch_is_applied_whole(spec: Spec, data: st.DataObject) -> None:
    """The converse: a valid batch (of any order and size) goes in completely."""
    if len(spec.names) < 2:
        return
    order = ref_kahn(spec.names, plain_edges(spec))
    pos = {n: i for i, n in enumerate(order)}
    taken = set(plain_edges(spec))
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(spec.names), st.sampled_from(spec.names))))
    batch: list[tuple[str, str]] = []
    for u, v in pairs:
        a, b = (u, v) if pos[u] < pos[v] else (v, u)
        if a != b and (a, b) not in taken:
            taken.add((a, b))
            batch.append((a, b))
    dag = spec.build()
    dag.add_edges(batch)
    assert dag.edge_count() == len(spec.edges) + len(batch)
    assert all(dag.has_edge(u, v) for u, v in batch)


# ----- a stateful model: random mutations against a plain-Python graph -------------------------

NAMES = ["a", "b", "c", "d", "e", "f", "g"]


class GraphMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dag = DAG()
        self.names: list[str] = []
        self.out: dict[str, list[str]] = {}

    def edges(self) -> list[tuple[str, str]]:
        return [(u, v) for u in self.names for v in self.out[u]]

    def reaches(self, start: str, goal: str) -> bool:
        return start == goal or goal in ref_reach(self.names, self.edges(), start)

    @rule(name=st.sampled_from(NAMES))
    def add_node(self, name: str) -> None:
        if name in self.out:
            with pytest.raises(DuplicateNodeError):
                self.dag.add_node(name)
        else:
            self.dag.add_node(name)
            self.names.append(name)
            self.out[name] = []

    @rule(u=st.sampled_from(NAMES), v=st.sampled_from(NAMES))
    def add_edge(self, u: str, v: str) -> None:
        if u not in self.out or v not in self.out:
            with pytest.raises(NodeNotFoundError):
                self.dag.add_edge(u, v)
        elif v in self.out[u]:
            with pytest.raises(DuplicateEdgeError):
                self.dag.add_edge(u, v)
        elif self.reaches(v, u):
            with pytest.raises(CycleError):
                self.dag.add_edge(u, v)
        else:
            self.dag.add_edge(u, v)
            self.out[u].append(v)

    @rule(pairs=st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=12))
    def add_edges(self, pairs: list[tuple[str, str]]) -> None:
        known = all(u in self.out and v in self.out for u, v in pairs)
        dup = len(set(pairs)) < len(pairs) or any(
            u in self.out and v in self.out[u] for u, v in pairs
        )
        if not known or dup or has_cycle(self.names, self.edges() + pairs):
            with pytest.raises((NodeNotFoundError, DuplicateEdgeError, CycleError)):
                self.dag.add_edges(pairs)
        else:
            self.dag.add_edges(pairs)
            for u, v in pairs:
                self.out[u].append(v)

    @rule(name=st.sampled_from(NAMES))
    def remove_node(self, name: str) -> None:
        if name not in self.out:
            with pytest.raises(NodeNotFoundError):
                self.dag.remove_node(name)
            return
        self.dag.remove_node(name)
        self.names.remove(name)
        del self.out[name]
        for targets in self.out.values():
            if name in targets:
                targets.remove(name)

    @rule(u=st.sampled_from(NAMES), v=st.sampled_from(NAMES))
    def remove_edge(self, u: str, v: str) -> None:
        if u in self.out and v in self.out[u]:
            self.dag.remove_edge(u, v)
            self.out[u].remove(v)
        else:
            with pytest.raises(KeyError):
                self.dag.remove_edge(u, v)

    @invariant()
    def matches_model(self) -> None:
        edges = self.edges()
        assert self.dag.nodes() == self.names
        assert self.dag.edges() == edges
        assert self.dag.edge_count() == len(edges)
        assert self.dag.topological_sort() == ref_kahn(self.names, edges)
        assert self.dag.topological_levels() == ref_levels(self.names, edges)
        assert self.dag.roots() == [n for n in self.names if not any(v == n for _, v in edges)]


GraphMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_properties_graph_machine = GraphMachine.TestCase
