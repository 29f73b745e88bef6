"""Every execution snippet of the seed's Getting Started guide, verbatim, with its output.

The snippets run in one namespace per scenario, in the order the guide gives them. Where the
guide shows an output as a comment, the printed line is checked; durations are checked for
their format only (they are wall times).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest

BUILD_ETL = """
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
"""

DEFINE_TASKS = '''
def extract():
    """Simulate fetching rows from an API."""
    print("Extracting data...")
    return [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}]

def transform():
    """Normalize names to uppercase."""
    print("Transforming data...")
    return [{"id": 1, "name": "ALICE"}, {"id": 2, "name": "BOB"}]

def load():
    """Write results to the database."""
    print("Loading data...")
    return "2 rows written"

tasks = {
    "extract": extract,
    "transform": transform,
    "load": load,
}
'''

EXECUTE = """
executor = dagron.DAGExecutor(dag)
result = executor.execute(tasks)
"""

INSPECT = """
print(result.succeeded) # 3
print(result.failed) # 0
for name, node_result in result.node_results.items():
    print(f"{name}: {node_result.status} in {node_result.duration_seconds:.3f}s")
"""

INSPECT_RESULT = """
print(result.node_results["load"].result)
"""

INSPECT_TIME = """
print(f"Pipeline finished in {result.total_duration_seconds:.3f}s")
"""

FAN_OUT = """
import dagron
import time
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
# -- Define tasks --
def extract_api():
    time.sleep(0.5) # simulate network I/O
    return [{"source": "api", "id": 1}]

def extract_db():
    time.sleep(0.3) # simulate query
    return [{"source": "db", "id": 2}]

def transform_api():
    return [{"source": "api", "id": 1, "clean": True}]

def transform_db():
    return [{"source": "db", "id": 2, "clean": True}]

def merge():
    return "merged 2 sources"

def load():
    return "loaded to warehouse"

tasks = {
    "extract_api": extract_api,
    "extract_db": extract_db,
    "transform_api": transform_api,
    "transform_db": transform_db,
    "merge": merge,
    "load": load,
}
# -- Execute --
result = dagron.DAGExecutor(dag, max_workers=4).execute(tasks)
print(f"Completed {result.succeeded}/{dag.node_count()} tasks")
print(f"Wall time: {result.total_duration_seconds:.3f}s")
"""

EXECUTION_ORDER = """
print(dag.topological_sort())
for level, nodes in enumerate(dag.topological_levels()):
    print(f"Level {level}: {nodes}")
"""

FAILURE = """
def bad_transform():
    raise ValueError("Data quality check failed!")

tasks_with_failure = {
    "extract": extract,
    "transform": bad_transform,
    "load": load,
}
result = dagron.DAGExecutor(dag).execute(tasks_with_failure)
print(result.failed) # 1
print(result.skipped) # 1 (load was skipped)
"""

NO_FAIL_FAST = """
result = dagron.DAGExecutor(dag, fail_fast=False).execute(tasks)
"""

PIPELINE = """
from dagron import Pipeline, task

@task
def fetch():
    return [1, 2, 3]

@task
def double(fetch):
    return [x * 2 for x in fetch]

@task
def save(double):
    return f"saved {len(double)} items"

pipeline = Pipeline(tasks=[fetch, double, save], name="numbers")
result = pipeline.execute()
print(result.node_results["save"].result) # "saved 3 items"
"""


def run(snippet: str, ns: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[str]:
    exec(compile(textwrap.dedent(snippet), "<seed>", "exec"), ns)
    return capsys.readouterr().out.splitlines()


def test_seed_first_dag_executes_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    assert run(BUILD_ETL, ns, capsys) == []
    assert run(DEFINE_TASKS, ns, capsys) == []
    assert run(EXECUTE, ns, capsys) == [
        "Extracting data...",
        "Transforming data...",
        "Loading data...",
    ]
    lines = run(INSPECT, ns, capsys)
    assert lines[:2] == ["3", "0"]
    assert [re.sub(r"\d+\.\d{3}s$", "<t>", line) for line in lines[2:]] == [
        "extract: NodeStatus.COMPLETED in <t>",
        "transform: NodeStatus.COMPLETED in <t>",
        "load: NodeStatus.COMPLETED in <t>",
    ]
    assert run(INSPECT_RESULT, ns, capsys) == ["2 rows written"]
    (line,) = run(INSPECT_TIME, ns, capsys)
    assert re.fullmatch(r"Pipeline finished in \d+\.\d{3}s", line)


def test_seed_fan_out_runs_both_extracts_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    lines = run(FAN_OUT, ns, capsys)
    assert lines[0] == "Completed 6/6 tasks"
    assert re.fullmatch(r"Wall time: \d+\.\d{3}s", lines[1])
    # Overlap, from the times each call recorded on its worker: each extract started
    # before the other one finished. Run one after the other, extract_db (0.3 s) would
    # start only after extract_api (0.5 s) finished, or the reverse.
    api, db = ns["result"]["extract_api"], ns["result"]["extract_db"]
    assert api.started_at < db.finished_at
    assert db.started_at < api.finished_at
    assert api.worker != db.worker
    # merge waited for both transforms, load for merge.
    r = ns["result"]
    assert r["merge"].started_at >= max(
        r["transform_api"].finished_at, r["transform_db"].finished_at
    )
    assert r["load"].started_at >= r["merge"].finished_at


def test_seed_fan_out_execution_order_preview(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    run(FAN_OUT, ns, capsys)
    assert run(EXECUTION_ORDER, ns, capsys) == [
        "['extract_api', 'extract_db', 'transform_api', 'transform_db', 'merge', 'load']",
        "Level 0: ['extract_api', 'extract_db']",
        "Level 1: ['transform_api', 'transform_db']",
        "Level 2: ['merge']",
        "Level 3: ['load']",
    ]


def test_seed_failure_handling_skips_downstream(capsys: pytest.CaptureFixture[str]) -> None:
    # The guide's failure section reuses the three-node ETL dag and its tasks (its table
    # lists extract/transform/load), so it runs after the first DAG's snippets.
    ns: dict[str, Any] = {}
    run(BUILD_ETL + DEFINE_TASKS, ns, capsys)
    lines = run(FAILURE, ns, capsys)
    assert lines == ["Extracting data...", "1", "1"]
    statuses = {n: r.status.value for n, r in ns["result"].node_results.items()}
    assert statuses == {"extract": "completed", "transform": "failed", "load": "skipped"}
    assert ns["result"].nodes_with_status(ns["dagron"].NodeStatus.SKIPPED) == ["load"]

    run(NO_FAIL_FAST, ns, capsys)
    assert ns["result"].succeeded == 3


def test_seed_failure_table_without_fail_fast(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    run(BUILD_ETL + DEFINE_TASKS, ns, capsys)
    run(FAILURE, ns, capsys)
    ns["result"] = (
        ns["dagron"].DAGExecutor(ns["dag"], fail_fast=False).execute(ns["tasks_with_failure"])
    )
    statuses = {n: r.status.value for n, r in ns["result"].node_results.items()}
    assert statuses == {"extract": "completed", "transform": "failed", "load": "skipped"}


def test_seed_pipeline_decorator(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict[str, Any] = {}
    assert run("import dagron\n" + PIPELINE, ns, capsys) == ["saved 3 items"]
    assert ns["pipeline"].dag.topological_sort() == ["fetch", "double", "save"]


def test_seed_example_etl_script_prints_the_guides_output() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "etl.py"
    done = subprocess.run(
        [sys.executable, str(script), "--backend", "threads"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [re.sub(r"\d+\.\d{3}s$", "<t>", line) for line in done.stdout.splitlines()]
    assert lines == [
        "== Your first DAG ==",
        "3",
        "2",
        "Extracting data...",
        "Transforming data...",
        "Loading data...",
        "3",
        "0",
        "extract: NodeStatus.COMPLETED in <t>",
        "transform: NodeStatus.COMPLETED in <t>",
        "load: NodeStatus.COMPLETED in <t>",
        "2 rows written",
        "Pipeline finished in <t>",
        "== Fan-out / fan-in ==",
        "Completed 6/6 tasks",
        "Wall time: <t>",
        "['extract_api', 'extract_db', 'transform_api', 'transform_db', 'merge', 'load']",
        "Level 0: ['extract_api', 'extract_db']",
        "Level 1: ['transform_api', 'transform_db']",
        "Level 2: ['merge']",
        "Level 3: ['load']",
        "== Handling failures ==",
        "Extracting data...",
        "1",
        "1",
        "extract: completed",
        "transform: failed",
        "load: skipped",
        "== Pipeline decorator ==",
        "saved 3 items",
    ]
    assert done.stderr == ""
