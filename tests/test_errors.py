"""The exception hierarchy: shape, attributes, messages, and pickling (errors cross processes)."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

import dagron
from dagron import errors

ALL_ERROR_NAMES: list[str] = list(errors.__all__)

# Sample constructor arguments by parameter name, so a class added to ``errors.__all__`` later
# is covered without touching this file (as long as its parameters are named like these).
SAMPLE_ARGS: dict[str, Any] = {
    "cycle": ["a", "b", "c", "a"],
    "node_name": "node with 'quotes' and ünïcode",
    "from_node": "src",
    "to_node": "dst",
    "message": None,
}


def sample_kwargs(cls: type[BaseException]) -> dict[str, Any]:
    """Keyword arguments for ``cls.__init__`` from sample values matched to parameter names."""
    kwargs: dict[str, Any] = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in SAMPLE_ARGS:
            if p.default is p.empty or SAMPLE_ARGS[p.name] is not None:
                kwargs[p.name] = SAMPLE_ARGS[p.name]
        elif p.default is p.empty:
            kwargs[p.name] = f"<{p.name}>"
    return kwargs


def make_error(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` built from sample arguments matched to its parameter names."""
    if not inspect.isfunction(cls.__init__):  # the C-level Exception.__init__: a message
        return cls(f"sample {cls.__name__} message")
    return cls(**sample_kwargs(cls))


def public_state(e: BaseException) -> dict[str, Any]:
    return {
        "type": type(e),
        "str": str(e),
        "args": e.args,
        "dict": dict(vars(e)),
    }


def build_chain(*names: str) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes(names)
    dag.add_edges(list(zip(names, names[1:])))
    return dag


# ----- hierarchy ---------------------------------------------------------------------------


def test_errors_all_lists_the_issue_2_classes() -> None:
    expected = {
        "DagronError",
        "CycleError",
        "DuplicateNodeError",
        "NodeNotFoundError",
        "DuplicateEdgeError",
        "EdgeNotFoundError",
    }
    assert expected <= set(ALL_ERROR_NAMES)


@pytest.mark.parametrize("name", [n for n in ALL_ERROR_NAMES if n != "RunInterrupted"])
def test_errors_hierarchy_rooted_at_dagron_error(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.DagronError)
    assert issubclass(cls, Exception)


def test_errors_run_interrupted_is_a_keyboard_interrupt_that_except_exception_misses() -> None:
    assert issubclass(errors.RunInterrupted, KeyboardInterrupt)
    assert not issubclass(errors.RunInterrupted, Exception)
    assert errors.RunInterrupted("partial").result == "partial"


@pytest.mark.parametrize("name", ALL_ERROR_NAMES)
def test_errors_reexported_from_package(name: str) -> None:
    assert getattr(dagron, name) is getattr(errors, name)
    assert name in dagron.__all__


@pytest.mark.parametrize(
    "name",
    [
        "CycleError",
        "DuplicateNodeError",
        "NodeNotFoundError",
        "DuplicateEdgeError",
        "EdgeNotFoundError",
        "InvalidGraphJSONError",
    ],
)
def test_errors_graph_errors_share_graph_error(name: str) -> None:
    assert issubclass(getattr(errors, name), errors.GraphError)


def test_errors_not_found_errors_are_key_errors() -> None:
    assert issubclass(errors.NodeNotFoundError, KeyError)
    assert issubclass(errors.EdgeNotFoundError, KeyError)
    assert issubclass(errors.InvalidGraphJSONError, ValueError)


def test_errors_key_error_messages_are_not_double_quoted() -> None:
    e = errors.NodeNotFoundError("x")
    assert str(e) == "node 'x' does not exist"
    e2 = errors.EdgeNotFoundError("a", "b")
    assert str(e2) == "edge 'a' -> 'b' does not exist"


# ----- attributes on errors raised by the bindings -----------------------------------------


def test_errors_cycle_error_carries_closed_path_from_add_edge() -> None:
    dag = build_chain("a", "b", "c")
    with pytest.raises(errors.CycleError) as info:
        dag.add_edge("c", "a")
    cycle = info.value.cycle
    assert type(info.value) is errors.CycleError
    assert isinstance(cycle, list)
    assert all(type(n) is str for n in cycle)
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert len(cycle) == 4
    closing = {("a", "b"), ("b", "c"), ("c", "a")}
    assert set(zip(cycle, cycle[1:])) == closing
    assert " -> ".join(cycle) in str(info.value)


def test_errors_cycle_error_on_self_loop() -> None:
    dag = build_chain("a")
    with pytest.raises(errors.CycleError) as info:
        dag.add_edge("a", "a")
    assert info.value.cycle == ["a", "a"]


def test_errors_duplicate_node_error_carries_node_name() -> None:
    dag = build_chain("a")
    with pytest.raises(errors.DuplicateNodeError) as info:
        dag.add_node("a")
    assert type(info.value) is errors.DuplicateNodeError
    assert info.value.node_name == "a"


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.add_edge("a", "missing"),
        lambda d: d.add_edge("missing", "a"),
        lambda d: d.remove_node("missing"),
        lambda d: d.predecessors("missing"),
        lambda d: d.successors("missing"),
        lambda d: d.ancestors("missing"),
        lambda d: d.descendants("missing"),
        lambda d: d.in_degree("missing"),
        lambda d: d.out_degree("missing"),
        lambda d: d.get_payload("missing"),
        lambda d: d.set_payload("missing", 1),
        lambda d: d.get_metadata("missing"),
        lambda d: d.set_metadata("missing", 1),
        lambda d: d.subgraph(["a", "missing"]),
    ],
)
def test_errors_node_not_found_error_carries_node_name(call: Any) -> None:
    dag = build_chain("a", "b")
    with pytest.raises(errors.NodeNotFoundError) as info:
        call(dag)
    assert type(info.value) is errors.NodeNotFoundError
    assert info.value.node_name == "missing"
    assert isinstance(info.value, KeyError)


def test_errors_duplicate_edge_error_carries_endpoints() -> None:
    dag = build_chain("a", "b")
    with pytest.raises(errors.DuplicateEdgeError) as info:
        dag.add_edge("a", "b")
    assert type(info.value) is errors.DuplicateEdgeError
    assert (info.value.from_node, info.value.to_node) == ("a", "b")


def test_errors_edge_not_found_error_carries_endpoints() -> None:
    dag = build_chain("a", "b", "c")
    with pytest.raises(errors.EdgeNotFoundError) as info:
        dag.remove_edge("a", "c")
    assert type(info.value) is errors.EdgeNotFoundError
    assert (info.value.from_node, info.value.to_node) == ("a", "c")
    with pytest.raises(errors.EdgeNotFoundError) as info2:
        dag.remove_edge("b", "a")
    assert (info2.value.from_node, info2.value.to_node) == ("b", "a")


def test_errors_invalid_json_error_is_raised_for_garbage() -> None:
    with pytest.raises(errors.InvalidGraphJSONError):
        dagron.DAG.from_json("this is not json")


# ----- pickling ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_ERROR_NAMES)
def test_errors_pickle_round_trip(name: str) -> None:
    cls = getattr(errors, name)
    original = make_error(cls)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(original, protocol=protocol))
        assert public_state(clone) == public_state(original)


def _takes_message(name: str) -> bool:
    init = getattr(errors, name).__init__
    return inspect.isfunction(init) and "message" in inspect.signature(init).parameters


@pytest.mark.parametrize("name", [n for n in ALL_ERROR_NAMES if _takes_message(n)])
def test_errors_pickle_round_trip_with_custom_message(name: str) -> None:
    cls = getattr(errors, name)
    kwargs = sample_kwargs(cls)
    original = cls(**kwargs, message="a custom message")
    clone = pickle.loads(pickle.dumps(original))
    assert str(clone) == "a custom message"
    assert public_state(clone) == public_state(original)


def _raised_errors() -> list[BaseException]:
    dag = build_chain("a", "b", "c")
    calls = [
        lambda: dag.add_edge("c", "a"),
        lambda: dag.add_node("a"),
        lambda: dag.add_edge("a", "zz"),
        lambda: dag.add_edge("a", "b"),
        lambda: dag.remove_edge("a", "c"),
        lambda: dagron.DAG.from_json("{"),
        lambda: dagron.DAG.builder().add_edge("x", "y").build(),
    ]
    raised: list[BaseException] = []
    for call in calls:
        try:
            call()
        except errors.DagronError as e:
            raised.append(e)
        else:  # pragma: no cover - reported by the assertion below
            raise AssertionError("expected an error")
    return raised


def test_errors_raised_by_bindings_survive_pickle() -> None:
    for e in _raised_errors():
        clone = pickle.loads(pickle.dumps(e))
        assert public_state(clone) == public_state(e)
        assert isinstance(clone, errors.DagronError)
