"""The package's face: every exported name resolves, and a plain import stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dagron


@pytest.mark.parametrize("name", dagron.__all__)
def test_package_every_exported_name_resolves(name: str) -> None:
    assert getattr(dagron, name) is not None
    assert name in dir(dagron)


def test_package_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        dagron.Nope  # noqa: B018


def test_package_lazy_names_are_the_real_objects() -> None:
    from dagron.async_executor import AsyncDAGExecutor
    from dagron.profiling import profile
    from dagron.tracing import Trace
    from dagron.workers import Cluster, LocalCluster

    assert dagron.AsyncDAGExecutor is AsyncDAGExecutor
    assert (dagron.Cluster, dagron.LocalCluster) == (Cluster, LocalCluster)
    assert (dagron.Trace, dagron.profile) == (Trace, profile)


HEAVY = ["asyncio", "zmq", "psutil", "dask", "distributed", "cloudpickle", "msgpack"]
HEAVY += ["dagron.tracing", "dagron.profiling", "dagron.timeline", "json", "pathlib"]


def test_package_import_and_a_threads_run_leave_the_heavy_modules_alone() -> None:
    # What a script that only builds graphs and runs them on threads pays for: not the
    # worker engine, not asyncio, not dask, not the trace formats.
    script = (
        "import sys, dagron\n"
        "dag = dagron.DAG(); dag.add_nodes(['a', 'b']); dag.add_edge('a', 'b')\n"
        "r = dagron.DAGExecutor(dag).execute({'a': lambda: 1, 'b': lambda: 2})\n"
        "assert r.succeeded == 2\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
