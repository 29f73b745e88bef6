"""Every graph snippet of the seed's Getting Started guide, verbatim, with its printed output.

The executor snippets (DAGExecutor, Pipeline, @task) belong to later issues; here each graph
snippet runs exactly as a reader would paste it, and what it prints is checked with capsys.
"""

from __future__ import annotations

import json

import pytest

import dagron


def test_seed_graph_verify_installation(capsys: pytest.CaptureFixture[str]) -> None:
    import dagron

    print(dagron.__version__)
    out = capsys.readouterr().out
    assert out == f"{dagron.__version__}\n"
    assert out.strip()


def test_seed_graph_first_dag_builder(capsys: pytest.CaptureFixture[str]) -> None:
    import dagron

    dag = (
        dagron.DAG.builder()
        .add_node("extract")
        .add_node("transform")
        .add_node("load")
        .add_edge("extract", "transform")
        .add_edge("transform", "load")
        .build()
    )

    print(dag.node_count())  # 3
    print(dag.edge_count())  # 2

    assert capsys.readouterr().out == "3\n2\n"
    assert dag.topological_sort() == ["extract", "transform", "load"]


def test_seed_graph_builder_cycle_raises_at_build() -> None:
    # "If you accidentally introduce a cycle, dagron raises a CycleError immediately."
    builder = (
        dagron.DAG.builder()
        .add_node("extract")
        .add_node("transform")
        .add_node("load")
        .add_edge("extract", "transform")
        .add_edge("transform", "load")
        .add_edge("load", "extract")
    )
    with pytest.raises(dagron.CycleError) as info:
        builder.build()
    assert set(info.value.cycle) == {"extract", "transform", "load"}
    assert info.value.cycle[0] == info.value.cycle[-1]


def _fan_out_dag() -> dagron.DAG:
    import dagron

    # -- Build the DAG --
    dag = (
        dagron.DAG.builder()
        .add_node("extract_api")
        .add_node("extract_db")
        .add_node("transform_api")
        .add_node("transform_db")
        .add_node("merge")
        .add_node("load")
        .add_edge("extract_api", "transform_api")
        .add_edge("extract_db", "transform_db")
        .add_edge("transform_api", "merge")
        .add_edge("transform_db", "merge")
        .add_edge("merge", "load")
        .build()
    )
    return dag


def test_seed_graph_fan_out_topological_sort(capsys: pytest.CaptureFixture[str]) -> None:
    dag = _fan_out_dag()

    print(dag.topological_sort())
    # ['extract_api', 'extract_db', 'transform_api', 'transform_db', 'merge', 'load']

    assert capsys.readouterr().out == (
        "['extract_api', 'extract_db', 'transform_api', 'transform_db', 'merge', 'load']\n"
    )


def test_seed_graph_fan_out_topological_levels(capsys: pytest.CaptureFixture[str]) -> None:
    dag = _fan_out_dag()

    for level, nodes in enumerate(dag.topological_levels()):
        print(f"Level {level}: {nodes}")
    # Level 0: ['extract_api', 'extract_db']
    # Level 1: ['transform_api', 'transform_db']
    # Level 2: ['merge']
    # Level 3: ['load']

    assert capsys.readouterr().out == (
        "Level 0: ['extract_api', 'extract_db']\n"
        "Level 1: ['transform_api', 'transform_db']\n"
        "Level 2: ['merge']\n"
        "Level 3: ['load']\n"
    )


def test_seed_graph_fan_out_node_count_for_the_summary_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The seed's summary line reads dag.node_count(); the executor half comes later.
    dag = _fan_out_dag()
    print(f"Completed 6/{dag.node_count()} tasks")
    assert capsys.readouterr().out == "Completed 6/6 tasks\n"


def test_seed_graph_builder_bulk_operations() -> None:
    dag = (
        dagron.DAG.builder()
        .add_nodes(["a", "b", "c", "d"])
        .add_edges([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
        .build()
    )

    assert dag.node_count() == 4
    assert dag.edge_count() == 4
    assert dag.topological_sort() == ["a", "b", "c", "d"]
    assert dag.topological_levels() == [["a"], ["b", "c"], ["d"]]


def test_seed_graph_direct_construction() -> None:
    dag = dagron.DAG()
    dag.add_node("x")
    dag.add_node("y")
    dag.add_edge("x", "y")

    assert dag.nodes() == ["x", "y"]
    assert dag.edges() == [("x", "y")]


def test_seed_graph_direct_construction_cycle_raises_at_add_edge() -> None:
    dag = dagron.DAG()
    dag.add_node("x")
    dag.add_node("y")
    dag.add_edge("x", "y")
    with pytest.raises(dagron.CycleError) as info:
        dag.add_edge("y", "x")
    assert set(info.value.cycle) == {"x", "y"}
    assert dag.edges() == [("x", "y")]


def _direct_dag() -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_node("x")
    dag.add_node("y")
    dag.add_edge("x", "y")
    return dag


@pytest.mark.parametrize("make", [_direct_dag, _fan_out_dag], ids=["direct", "fan-out"])
def test_seed_graph_visualizing(capsys: pytest.CaptureFixture[str], make: object) -> None:
    dag = make()  # type: ignore[operator]

    # Mermaid (great for docs)
    print(dag.to_mermaid())

    # Graphviz DOT
    print(dag.to_dot())

    # JSON (for programmatic consumption)
    print(dag.to_json())

    out = capsys.readouterr().out
    mermaid, dot, js = dag.to_mermaid(), dag.to_dot(), dag.to_json()
    assert out == f"{mermaid}\n{dot}\n{js}\n"
    assert mermaid.startswith("flowchart TD\n")
    for name in dag.nodes():
        assert f'["{name}"]' in mermaid
        assert f'[label="{name}"];' in dot
    assert dot.startswith("digraph ")
    assert dot.rstrip().endswith("}")
    doc = json.loads(js)
    assert doc["format"] == "dagron.graph"
    assert [n["name"] for n in doc["nodes"]] == dag.nodes()
    assert [(e["from"], e["to"]) for e in doc["edges"]] == dag.edges()
