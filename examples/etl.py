"""The Getting Started guide's ETL pipelines, runnable end to end.

    python examples/etl.py                    # processes backend (worker processes)
    python examples/etl.py --backend threads

Runs, in order: the first three-node ETL, the fan-out/fan-in ETL, the failure-handling
example, and the @task Pipeline, printing what the guide shows.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import dagron
from dagron import Pipeline, task
from dagron.backends import available_backends

# -- the first DAG ------------------------------------------------------------------------


def extract() -> list[dict[str, Any]]:
    """Simulate fetching rows from an API."""
    print("Extracting data...")
    return [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}]


def transform() -> list[dict[str, Any]]:
    """Normalize names to uppercase."""
    print("Transforming data...")
    return [{"id": 1, "name": "ALICE"}, {"id": 2, "name": "BOB"}]


def load() -> str:
    """Write results to the database."""
    print("Loading data...")
    return "2 rows written"


def etl_dag() -> dagron.DAG:
    return (
        dagron.DAG.builder()
        .add_node("extract")
        .add_node("transform")
        .add_node("load")
        .add_edge("extract", "transform")
        .add_edge("transform", "load")
        .build()
    )


def first_dag(backend: str) -> None:
    dag = etl_dag()
    print(dag.node_count())  # 3
    print(dag.edge_count())  # 2
    tasks = {"extract": extract, "transform": transform, "load": load}
    executor = dagron.DAGExecutor(dag, backend=backend)
    result = executor.execute(tasks)
    print(result.succeeded)  # 3
    print(result.failed)  # 0
    for name, node_result in result.node_results.items():
        print(f"{name}: {node_result.status} in {node_result.duration_seconds:.3f}s")
    print(result.node_results["load"].result)
    print(f"Pipeline finished in {result.total_duration_seconds:.3f}s")


# -- fan-out / fan-in ---------------------------------------------------------------------


def extract_api() -> list[dict[str, Any]]:
    time.sleep(0.5)  # simulate network I/O
    return [{"source": "api", "id": 1}]


def extract_db() -> list[dict[str, Any]]:
    time.sleep(0.3)  # simulate query
    return [{"source": "db", "id": 2}]


def transform_api() -> list[dict[str, Any]]:
    return [{"source": "api", "id": 1, "clean": True}]


def transform_db() -> list[dict[str, Any]]:
    return [{"source": "db", "id": 2, "clean": True}]


def merge() -> str:
    return "merged 2 sources"


def load_warehouse() -> str:
    return "loaded to warehouse"


def fan_out(backend: str) -> None:
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
    tasks = {
        "extract_api": extract_api,
        "extract_db": extract_db,
        "transform_api": transform_api,
        "transform_db": transform_db,
        "merge": merge,
        "load": load_warehouse,
    }
    result = dagron.DAGExecutor(dag, max_workers=4, backend=backend).execute(tasks)
    print(f"Completed {result.succeeded}/{dag.node_count()} tasks")
    print(f"Wall time: {result.total_duration_seconds:.3f}s")
    print(dag.topological_sort())
    for level, nodes in enumerate(dag.topological_levels()):
        print(f"Level {level}: {nodes}")


# -- failures -----------------------------------------------------------------------------


def bad_transform() -> None:
    raise ValueError("Data quality check failed!")


def failures(backend: str) -> None:
    dag = etl_dag()
    tasks_with_failure = {"extract": extract, "transform": bad_transform, "load": load}
    result = dagron.DAGExecutor(dag, backend=backend).execute(tasks_with_failure)
    print(result.failed)  # 1
    print(result.skipped)  # 1 (load was skipped)
    for name, node_result in result.node_results.items():
        print(f"{name}: {node_result.status.value}")


# -- Pipeline decorator -------------------------------------------------------------------


@task
def fetch() -> list[int]:
    return [1, 2, 3]


@task
def double(fetch: list[int]) -> list[int]:
    return [x * 2 for x in fetch]


@task
def save(double: list[int]) -> str:
    return f"saved {len(double)} items"


def pipeline(backend: str) -> None:
    numbers = Pipeline(tasks=[fetch, double, save], name="numbers")
    result = numbers.execute(backend=backend)
    print(result.node_results["save"].result)  # "saved 3 items"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="processes", choices=available_backends())
    args = parser.parse_args(argv)
    for title, section in (
        ("Your first DAG", first_dag),
        ("Fan-out / fan-in", fan_out),
        ("Handling failures", failures),
        ("Pipeline decorator", pipeline),
    ):
        print(f"== {title} ==")
        section(args.backend)


if __name__ == "__main__":
    main()
