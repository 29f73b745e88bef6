"""dagron's runners for the processes benchmark: a warm LocalCluster, a Cluster over TCP +
CURVE on loopback, dagron on dask, and the reference rows (serial, threads, cold embedded)."""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable

from _common import best
from processes_runner import Result, Runner
from processes_tasks import big_value, burn, nbytes, noop, parents_sum
from processes_workloads import Layered, Spec


class DagronRunner(Runner):
    name = "dagron processes"

    def __init__(self) -> None:
        import dagron

        self.dagron = dagron
        self.cluster: Any = None
        self.cache: dict[Any, Any] = {}

    def start(self) -> None:
        self.cluster = self.dagron.LocalCluster(n_workers=2)
        self.noop(4)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()

    def _executor(self, dag: Any) -> Any:
        return self.dagron.DAGExecutor(dag, backend=self.cluster, max_workers=2)

    def _flat(self, n: int, fn: Callable[..., Any]) -> tuple[Any, dict[str, Any]]:
        key = (n, fn)
        if key not in self.cache:
            dag = self.dagron.DAG()
            names = [f"t{i}" for i in range(n)]
            dag.add_nodes(names)
            self.cache[key] = (dag, dict.fromkeys(names, fn))
        return self.cache[key]

    def noop(self, n: int) -> None:
        dag, tasks = self._flat(n, noop)
        result = self._executor(dag).execute(tasks)
        assert result.succeeded == n, result

    def layered(self, g: Layered) -> int:
        key = ("layered", id(g))
        if key not in self.cache:
            dag = self.dagron.DAG()
            names = [f"n{i}" for i in range(g.n)]
            dag.add_nodes(names)
            dag.add_edges([(names[p], names[c]) for c, ps in enumerate(g.parents) for p in ps])
            self.cache[key] = (dag, dict.fromkeys(names, parents_sum), names)
        dag, tasks, names = self.cache[key]
        result = self._executor(dag).execute(tasks, pass_results=True)
        return sum(result.node_results[names[i]].result for i in g.last_level)

    def cpu(self, k: int, iters: int) -> None:
        burner = self.cache.setdefault(("burn", iters), functools.partial(burn, iters))
        dag, tasks = self._flat(k, burner)
        result = self._executor(dag).execute(tasks)
        assert result.succeeded == k, result

    def big(self, kind: str, size: int) -> int:
        key = ("big", kind, size)
        if key not in self.cache:
            dag = self.dagron.DAG()
            dag.add_node("big")
            self.cache[key] = (dag, {"big": functools.partial(big_value, kind, size)})
        dag, tasks = self.cache[key]
        result = self._executor(dag).execute(tasks)
        return nbytes(result.node_results["big"].result)


class DagronRemoteRunner(DagronRunner):
    """dagron's Cluster over TCP + CURVE on loopback, two workers from ``dagron-worker``:
    what remote hosts cost, measured on one machine (issue 5's case)."""

    name = "dagron remote (tcp+curve)"

    def start(self) -> None:
        import subprocess
        import tempfile

        from dagron.workers.security import generate_keys

        self.tmp = tempfile.mkdtemp(prefix="dagron-bench-keys-")
        keys = str(generate_keys(os.path.join(self.tmp, "keys")))
        self.cluster = self.dagron.Cluster("tcp://127.0.0.1:*", keys=keys)
        cmd = [sys.executable, "-m", "dagron.workers.cli", self.cluster.address]
        self.host = subprocess.Popen([*cmd, "--nprocs", "2", "--keys", keys])
        self.cluster.wait_for_workers(2, timeout=120)
        self.noop(4)

    def close(self) -> None:
        import shutil

        try:
            super().close()
        finally:
            host = getattr(self, "host", None)
            if host is not None:
                host.terminate()
                host.wait(30)
            shutil.rmtree(getattr(self, "tmp", ""), ignore_errors=True)


class DagronOnDaskRunner(DagronRunner):
    """dagron's scheduling on a dask.distributed cluster (``DaskBackend``): issue 7's case."""

    name = "dagron on dask"

    def start(self) -> None:
        import distributed

        self.dask_cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        self.client = distributed.Client(self.dask_cluster)
        self.noop(4)

    def close(self) -> None:
        try:
            if getattr(self, "client", None) is not None:
                self.client.close()
        finally:
            if getattr(self, "dask_cluster", None) is not None:
                self.dask_cluster.close()

    def _executor(self, dag: Any) -> Any:
        backend = self.dagron.DaskBackend(self.client)
        return self.dagron.DAGExecutor(dag, backend=backend, max_workers=2)


def run_extras(spec: Spec, table: dict[str, Result]) -> None:
    """Serial and dagron's threads backend on (c); dagron's embedded (cold) processes backend
    on (a), its start-up included."""
    import dagron

    cpu_dag = dagron.DAG()
    cpu_names = [f"c{i}" for i in range(spec.cpu_tasks)]
    cpu_dag.add_nodes(cpu_names)
    cpu_tasks = dict.fromkeys(cpu_names, functools.partial(burn, spec.cpu_iters))

    def threads() -> None:
        dagron.DAGExecutor(cpu_dag, backend="threads", max_workers=2).execute(cpu_tasks)

    def serial() -> None:
        for _ in range(spec.cpu_tasks):
            burn(spec.cpu_iters)

    table["serial (this process)"] = {"cpu": best(serial, spec.cpu_repeat)}
    table["dagron threads"] = {"cpu": best(threads, spec.cpu_repeat)}

    dag = dagron.DAG()
    names = [f"t{i}" for i in range(spec.n_noop)]
    dag.add_nodes(names)
    tasks = dict.fromkeys(names, noop)

    def cold() -> None:
        executor = dagron.DAGExecutor(dag, backend="processes", max_workers=2)
        assert executor.execute(tasks).succeeded == spec.n_noop
        # Its workers would stay warm for the next repeat: cold means started and stopped.
        dagron.shutdown_default_pool()

    table["dagron processes, cold (embedded)"] = {"noop": best(cold, spec.repeat)}
