"""Exports: the versioned JSON document, Graphviz DOT and Mermaid, with awkward names.

DOT and Mermaid are checked structurally with the small parsers below (no third-party
parser is needed): the output must parse, every node must be declared once under an id of its
own, every edge must join declared nodes, and decoding the ids/labels must give the names back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagron import (
    DAG,
    CycleError,
    DuplicateNodeError,
    GraphError,
    InvalidGraphJSONError,
    NodeNotFoundError,
)

AWKWARD_NAMES: list[str] = [
    "plain",
    "with space",
    "  leading and trailing  ",
    'double"quote',
    '"fully quoted"',
    "single'quote",
    "back\\slash",
    "trailing backslash\\",
    '\\"',
    "\\n (backslash n, not a newline)",
    "new\nline",
    "\n",
    "tab\there",
    "ünïcödé",
    "名前",
    "🚀 rocket",
    "node",
    "graph",
    "edge",
    "digraph",
    "subgraph",
    "strict",
    "Node",
    "GRAPH",
    "end",
    "End",
    "style",
    "classDef",
    "class",
    "click",
    "linkStyle",
    "flowchart",
    "a->b",
    "a -- b",
    "a --> b",
    "{braces}",
    "[brackets]",
    "(parens)",
    "((round))",
    "semi;colon",
    "comma,",
    "pipe|bar",
    "#hash",
    "#quot;",
    "#35;",
    "<html>",
    "<br/>",
    "&amp;",
    "x=1",
    "%%comment",
    "// not a comment",
    "/* nor this */",
    "0",
    "-1.5",
    "123abc",
    "",
]


def awkward_dag() -> DAG:
    dag = DAG()
    dag.add_nodes(AWKWARD_NAMES)
    # A chain through every name plus a few labelled/weighted edges with awkward labels.
    dag.add_edges(list(zip(AWKWARD_NAMES, AWKWARD_NAMES[1:])))
    dag.add_edge("plain", "node", 2.5, 'label "with" quotes\nand a newline | pipe')
    dag.add_edge("graph", "end", None, "end")
    dag.add_edge("edge", "style", 1.0)
    return dag


# ----- a tiny DOT parser --------------------------------------------------------------------

DOT_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}
_DOT_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/|^\#[^\n]*)
  | (?P<qstr>"(?:\\.|[^"\\])*")
  | (?P<num>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?![A-Za-z_\x80-\U0010ffff]))
  | (?P<ident>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)
  | (?P<op>->|--|[{}\[\];,=:])
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)


@dataclass
class DotGraph:
    directed: bool
    node_ids: list[str] = field(default_factory=list)
    node_attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def dot_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens; a quoted string's value is its DOT-level content."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _DOT_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"DOT: unexpected character {text[pos]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind == "qstr":
            # DOT's only escape inside quotes is \" (and a backslash-newline continuation).
            out.append(("ID", value[1:-1].replace('\\"', '"').replace("\\\n", "")))
        elif kind == "ident":
            if value.lower() in DOT_KEYWORDS:
                out.append(("KW", value.lower()))
            else:
                out.append(("ID", value))
        elif kind == "num":
            out.append(("ID", value))
        else:
            out.append(("OP", value))
    return out


def parse_dot(text: str) -> DotGraph:
    toks = dot_tokens(text)
    i = 0

    def peek() -> tuple[str, str]:
        return toks[i] if i < len(toks) else ("EOF", "")

    def take(kind: str, value: str | None = None) -> str:
        nonlocal i
        k, v = peek()
        if k != kind or (value is not None and v != value):
            raise ValueError(f"DOT: expected {value or kind}, got {k} {v!r} at token {i}")
        i += 1
        return v

    def attr_list() -> dict[str, str]:
        attrs: dict[str, str] = {}
        while peek() == ("OP", "["):
            take("OP", "[")
            while peek() != ("OP", "]"):
                key = take("ID")
                take("OP", "=")
                attrs[key] = take("ID")
                if peek()[1] in (",", ";") and peek()[0] == "OP":
                    take("OP")
            take("OP", "]")
        return attrs

    if peek() == ("KW", "strict"):
        take("KW")
    kind = take("KW")
    if kind not in ("graph", "digraph"):
        raise ValueError("DOT: expected graph or digraph")
    graph = DotGraph(directed=kind == "digraph")
    if peek()[0] == "ID":
        take("ID")
    take("OP", "{")
    while peek() != ("OP", "}"):
        k, v = peek()
        if k == "KW" and v in ("graph", "node", "edge"):
            take("KW")
            if peek() != ("OP", "["):
                raise ValueError(f"DOT: bare keyword {v!r} (an unquoted name?)")
            attr_list()
        elif k == "ID":
            first = take("ID")
            if peek() == ("OP", "="):
                take("OP")
                take("ID")
            elif peek()[1] in ("->", "--"):
                chain = [first]
                while peek()[1] in ("->", "--"):
                    op = take("OP")
                    if op != ("->" if graph.directed else "--"):
                        raise ValueError(f"DOT: edge operator {op} in the wrong graph kind")
                    chain.append(take("ID"))
                attrs = attr_list()
                graph.edges.extend((a, b, attrs) for a, b in zip(chain, chain[1:]))
            else:
                graph.node_ids.append(first)
                graph.node_attrs.setdefault(first, {}).update(attr_list())
        else:
            raise ValueError(f"DOT: unexpected {k} {v!r} (unquoted keyword used as an ID?)")
        if peek() == ("OP", ";"):
            take("OP")
    take("OP", "}")
    if peek()[0] != "EOF":
        raise ValueError("DOT: text after the closing brace")
    return graph


def dot_display(dot_id: str) -> str:
    """What Graphviz shows for a label (escString: \\\\, \\n, \\r; then HTML entities)."""
    text = re.sub(
        r"\\(.)",
        lambda m: {"\\": "\\", "n": "\n", "r": "\r"}.get(m.group(1), m.group()),
        dot_id,
    )
    return text.replace("&amp;", "&")


def check_dot(dag: DAG) -> DotGraph:
    text = dag.to_dot()
    graph = parse_dot(text)
    assert graph.directed
    names = dag.nodes()
    # One statement per node, each with an ID of its own: Graphviz merges equal IDs.
    assert len(graph.node_ids) == len(names)
    assert len(set(graph.node_ids)) == len(names), "two names share one DOT node ID"
    by_id = dict(zip(graph.node_ids, names))
    # Generated IDs; each node shows its name through its label.
    assert all(re.fullmatch(r"n[0-9]+", x) for x in graph.node_ids)
    assert [dot_display(graph.node_attrs[x]["label"]) for x in graph.node_ids] == names
    # Edges join declared nodes only (an undeclared ID would make a stray node).
    edges = [(by_id[a], by_id[b]) for a, b, _ in graph.edges]
    assert edges == dag.edges()
    for (u, v), (_, _, attrs) in zip(edges, graph.edges):
        label = dag.edge_label(u, v)
        weight = dag.edge_weight(u, v)
        assert ("label" in attrs) == (label is not None)
        if label is not None:
            assert dot_display(attrs["label"]) == label
        assert ("weight" in attrs) == (weight is not None)
        if weight is not None:
            assert float(attrs["weight"]) == weight
    return graph


# ----- a tiny Mermaid flowchart reader ---------------------------------------------------------

_MERMAID_NODE = re.compile(r'^    ([A-Za-z][A-Za-z0-9_]*)\["([^"\n]*)"\]$')
_MERMAID_EDGE = re.compile(
    r'^    ([A-Za-z][A-Za-z0-9_]*) -->(?:\|"([^"\n|]*)"\|)? ([A-Za-z][A-Za-z0-9_]*)$'
)
_MERMAID_ENTITY = re.compile(r"#(quot|35|lt|gt|amp|124|13);|<br/>")
_ENTITIES = {"quot": '"', "35": "#", "lt": "<", "gt": ">", "amp": "&", "124": "|", "13": "\r"}
MERMAID_RESERVED_IDS = {"end", "graph", "flowchart", "subgraph", "style", "class", "classdef"}


def mermaid_text(label: str) -> str:
    return _MERMAID_ENTITY.sub(lambda m: _ENTITIES[m.group(1)] if m.group(1) else "\n", label)


def check_mermaid(dag: DAG) -> None:
    lines = dag.to_mermaid().split("\n")
    assert lines[0] == "flowchart TD"
    assert lines[-1] == ""
    ids: dict[str, str] = {}
    edges: list[tuple[str, str, str | None]] = []
    for line in lines[1:-1]:
        node = _MERMAID_NODE.match(line)
        edge = _MERMAID_EDGE.match(line)
        if node:
            node_id, label = node.groups()
            assert node_id.lower() not in MERMAID_RESERVED_IDS
            assert node_id not in ids, "node declared twice"
            assert not edges, "nodes are declared before edges"
            ids[node_id] = mermaid_text(label)
        elif edge:
            a, label, b = edge.groups()
            assert a in ids and b in ids, "edge to an undeclared node"
            edges.append((ids[a], ids[b], None if label is None else mermaid_text(label)))
        else:
            raise AssertionError(f"not a Mermaid node or edge line: {line!r}")
    assert list(ids.values()) == dag.nodes()
    assert [(a, b) for a, b, _ in edges] == dag.edges()
    assert [lab for _, _, lab in edges] == [dag.edge_label(u, v) for u, v in dag.edges()]


# ----- JSON ---------------------------------------------------------------------------------


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def graph_state(dag: DAG) -> dict[str, Any]:
    nodes = dag.nodes()
    edges = dag.edges()
    return {
        "nodes": nodes,
        "edges": edges,
        "weights": [dag.edge_weight(u, v) for u, v in edges],
        "labels": [dag.edge_label(u, v) for u, v in edges],
        "payloads": [dag.get_payload(n) for n in nodes],
        "metadata": [dag.get_metadata(n) for n in nodes],
    }


def test_export_json_document_shape() -> None:
    dag = DAG()
    dag.add_nodes(["a", ("b", {"rows": 2}, {"owner": "x"}), "c"])
    dag.add_edges([("a", "b"), ("a", "c", 2.5, "rows"), ("b", "c", None, "l")])
    doc = strict_loads(dag.to_json())
    assert doc["format"] == "dagron.graph"
    assert doc["version"] == 1
    assert doc["nodes"] == [
        {"name": "a"},
        {"name": "b", "payload": {"rows": 2}, "metadata": {"owner": "x"}},
        {"name": "c"},
    ]
    assert doc["edges"] == [
        {"from": "a", "to": "b"},
        {"from": "a", "to": "c", "weight": 2.5, "label": "rows"},
        {"from": "b", "to": "c", "label": "l"},
    ]


def test_export_json_round_trip() -> None:
    dag = DAG()
    dag.add_nodes(
        [
            ("z", [1, 2.5, "s", None, True, {"k": [False]}], "meta"),
            ("y", 0),
            ("x", None, {"nested": {"deep": [1, [2, [3]]]}}),
            ("w", -(2**63)),
            ("v", 2**64 - 1),
            ("u", -0.0),
            ("t", 1e300),
            ("s", ""),
        ]
    )
    dag.add_edges([("z", "y", 0.1), ("y", "x", None, ""), ("z", "x", -3.0, "neg"), ("w", "z")])
    text = dag.to_json()
    back = DAG.from_json(text)
    assert graph_state(back) == graph_state(dag)
    assert back.to_json() == text
    assert type(back.get_payload("y")) is int
    assert type(back.get_payload("u")) is float
    assert str(back.get_payload("u")) == "-0.0"
    assert back.topological_sort() == dag.topological_sort()


def test_export_json_bool_and_int_payloads_keep_their_type() -> None:
    dag = DAG()
    dag.add_nodes([("t", True), ("f", False), ("one", 1), ("onef", 1.0)])
    back = DAG.from_json(dag.to_json())
    assert back.get_payload("t") is True
    assert back.get_payload("f") is False
    assert type(back.get_payload("one")) is int
    assert type(back.get_payload("onef")) is float


@pytest.mark.parametrize(
    "payload",
    [
        object(),
        {1, 2},
        (1, 2),
        b"bytes",
        float("nan"),
        float("inf"),
        -float("inf"),
        2**64,
        -(2**63) - 1,
        {1: "int key"},
        {"ok": object()},
        [1, object()],
        [1, float("nan")],
    ],
    ids=[
        "object",
        "set",
        "tuple",
        "bytes",
        "nan",
        "inf",
        "-inf",
        "2**64",
        "below-i64",
        "int-key",
        "nested-object",
        "list-with-object",
        "list-with-nan",
    ],
)
def test_export_json_omits_payloads_that_are_not_json_safe(payload: Any) -> None:
    dag = DAG()
    dag.add_node("a", payload, payload)
    dag.add_node("b", {"fine": 1})
    doc = strict_loads(dag.to_json())
    assert doc["nodes"][0] == {"name": "a"}
    assert doc["nodes"][1] == {"name": "b", "payload": {"fine": 1}}
    back = DAG.from_json(dag.to_json())
    assert back.get_payload("a") is None
    assert back.get_payload("b") == {"fine": 1}


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -float("inf")])
def test_export_non_finite_weight_is_refused_or_survives_json(weight: float) -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    try:
        dag.add_edge("a", "b", weight)
    except ValueError:
        return  # refusing a weight JSON cannot carry is fine
    text = dag.to_json()
    strict_loads(text)
    back = DAG.from_json(text)
    got = back.edge_weight("a", "b")
    assert got is not None, "the weight was silently dropped by the JSON round trip"
    assert repr(got) == repr(weight)


def test_export_json_awkward_names_round_trip() -> None:
    dag = awkward_dag()
    text = dag.to_json()
    doc = strict_loads(text)
    assert [n["name"] for n in doc["nodes"]] == AWKWARD_NAMES
    back = DAG.from_json(text)
    assert graph_state(back) == graph_state(dag)
    assert back.to_json() == text


def test_export_json_accepts_reformatted_text() -> None:
    dag = awkward_dag()
    pretty = json.dumps(json.loads(dag.to_json()), indent=2, ensure_ascii=True)
    assert graph_state(DAG.from_json(pretty)) == graph_state(dag)


def test_export_json_empty_graph() -> None:
    text = DAG().to_json()
    assert strict_loads(text) == {"format": "dagron.graph", "version": 1, "nodes": [], "edges": []}
    assert DAG.from_json(text).node_count() == 0


def test_export_json_after_removals_round_trips() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b", "c", "d"])
    dag.add_edges([("a", "b", 1.0), ("b", "c"), ("a", "d", None, "x")])
    dag.remove_node("b")
    dag.add_node("b", "new")
    dag.add_edge("b", "a")
    back = DAG.from_json(dag.to_json())
    assert graph_state(back) == graph_state(dag)
    assert back.topological_sort() == dag.topological_sort()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{",
        "[]",
        "null",
        "{}",
        '{"format": "dagron.graph", "nodes": []}',
        '{"format": "something.else", "version": 1, "nodes": []}',
        '{"format": "dagron.graph", "version": "1", "nodes": []}',
        '{"format": "dagron.graph", "version": 1, "nodes": {}}',
        '{"format": "dagron.graph", "version": 1, "nodes": [{"label": "no name"}]}',
        '{"format": "dagron.graph", "version": 1, "nodes": [{"name": 5}]}',
        '{"format": "dagron.graph", "version": 1, "nodes": [], "edges": [{"from": "a"}]}',
    ],
)
def test_export_from_json_rejects_malformed_documents(text: str) -> None:
    with pytest.raises(InvalidGraphJSONError):
        DAG.from_json(text)
    assert issubclass(InvalidGraphJSONError, ValueError)


def test_export_from_json_rejects_other_versions() -> None:
    with pytest.raises(InvalidGraphJSONError, match="version"):
        DAG.from_json('{"format": "dagron.graph", "version": 2, "nodes": [], "edges": []}')


def test_export_from_json_rejects_graph_errors() -> None:
    head = '{"format": "dagron.graph", "version": 1, '
    with pytest.raises(CycleError):
        DAG.from_json(
            head + '"nodes": [{"name": "a"}, {"name": "b"}], '
            '"edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}'
        )
    with pytest.raises((DuplicateNodeError, InvalidGraphJSONError)):
        DAG.from_json(head + '"nodes": [{"name": "a"}, {"name": "a"}], "edges": []}')
    with pytest.raises((NodeNotFoundError, InvalidGraphJSONError)):
        DAG.from_json(head + '"nodes": [{"name": "a"}], "edges": [{"from": "a", "to": "b"}]}')
    with pytest.raises(GraphError):
        DAG.from_json(
            head + '"nodes": [{"name": "a"}, {"name": "b"}], '
            '"edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "b"}]}'
        )


def test_export_from_json_edges_key_is_optional() -> None:
    dag = DAG.from_json('{"format": "dagron.graph", "version": 1, "nodes": [{"name": "a"}]}')
    assert dag.nodes() == ["a"]


def test_export_from_json_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        DAG.from_json(b'{"format": "dagron.graph", "version": 1, "nodes": []}')  # type: ignore[arg-type]


# ----- DOT and Mermaid ----------------------------------------------------------------------


def test_export_dot_simple_graph() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b")
    graph = check_dot(dag)
    assert graph.node_ids == ["n0", "n1"]
    assert [(a, b) for a, b, _ in graph.edges] == [("n0", "n1")]


def test_export_dot_awkward_names() -> None:
    check_dot(awkward_dag())


def test_export_dot_empty_graph() -> None:
    graph = parse_dot(DAG().to_dot())
    assert graph.node_ids == []
    assert graph.edges == []


def test_export_mermaid_simple_graph() -> None:
    dag = DAG()
    dag.add_nodes(["a", "b"])
    dag.add_edge("a", "b", label="rows")
    check_mermaid(dag)


def test_export_mermaid_awkward_names() -> None:
    check_mermaid(awkward_dag())


def test_export_mermaid_empty_graph() -> None:
    assert DAG().to_mermaid().split("\n") == ["flowchart TD", ""]


def test_export_carriage_return_names_stay_distinct() -> None:
    dag = DAG()
    dag.add_nodes(["a\rb", "ab", "a\r\nb", "a\nb"])
    dag.add_edge("a\rb", "ab")
    text = dag.to_json()
    assert graph_state(DAG.from_json(text)) == graph_state(dag)
    check_dot(dag)
    check_mermaid(dag)


def test_export_parsers_reject_broken_text() -> None:
    # The checkers above are only worth something if they can fail.
    with pytest.raises(ValueError):
        parse_dot('digraph dagron {\n  "a" -> "b;\n}\n')
    with pytest.raises(ValueError):
        parse_dot("digraph dagron {\n  node;\n}\n")
    with pytest.raises(ValueError):
        parse_dot('digraph dagron {\n  "a" -> node;\n}\n')
    with pytest.raises(ValueError):
        parse_dot('digraph dagron {\n  "a" -- "b";\n}\n')
    assert dot_display(parse_dot('digraph { "a\\\\b\\"c\\nd"; }').node_ids[0]) == 'a\\b"c\nd'


names_strategy = st.lists(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\r"),
        max_size=12,
    ),
    unique=True,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(names=names_strategy, data=st.data())
def test_export_any_names_survive_dot_mermaid_json(names: list[str], data: st.DataObject) -> None:
    dag = DAG()
    dag.add_nodes(names)
    if len(names) > 1:
        pairs = data.draw(
            st.lists(
                st.tuples(st.integers(0, len(names) - 2), st.integers(1, len(names) - 1)),
                unique=True,
                max_size=20,
            )
        )
        edges = sorted({(names[i], names[j]) for i, j in pairs if i < j})
        label = data.draw(names_strategy.map(lambda xs: xs[0] if xs else None))
        dag.add_edges([(u, v, None, label) for u, v in edges])
    check_dot(dag)
    check_mermaid(dag)
    assert graph_state(DAG.from_json(dag.to_json())) == graph_state(dag)
