"""Cluster with remote workers: dagron-worker hosts, keys, heartbeats, hostile peers.

The multi-host cases run workers in network namespaces with their own addresses (root only;
skipped with the reason otherwise).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
import pytest
import zmq

import dagron
from dagron import Cluster, DAGExecutor, NodeStatus
from dagron.errors import SecurityError, SerializationError
from dagron.workers import function_store
from dagron.workers import protocol as p
from dagron.workers.netns import Host, TestNetwork, netns_available
from dagron.workers.security import generate_keys
from dagron.workers.testing import wait_for_gone

WORKER_CMD = [sys.executable, "-m", "dagron.workers.cli"]


@pytest.fixture
def keys(tmp_path: Path) -> str:
    return str(generate_keys(tmp_path / "keys"))


def start_host(
    address: str, keys: str | None, nprocs: int = 2, *extra: str
) -> subprocess.Popen[bytes]:
    cmd = [*WORKER_CMD, address, "--nprocs", str(nprocs), "--death-timeout", "10", *extra]
    if keys is not None:
        cmd += ["--keys", keys]
    return subprocess.Popen(cmd)


def wide(n: int) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes([f"n{i}" for i in range(n)])
    return dag


def chain(n: int) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes([f"c{i}" for i in range(n)])
    dag.add_edges([(f"c{i}", f"c{i + 1}") for i in range(n - 1)])
    return dag


@pytest.mark.parametrize("listen", ["tcp://127.0.0.1:*", "tcp://localhost:*"])
def test_cluster_refuses_keyless_loopback_tcp_unless_opted_in(listen: str) -> None:
    # Any local process (any user) can reach a loopback port: without keys it could run
    # code here, so that takes an explicit opt-in.
    with pytest.raises(SecurityError, match="insecure=True"):
        Cluster(listen)
    with pytest.raises(SecurityError, match="keys="):
        Cluster()
    with Cluster(listen, insecure=True) as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")


def test_cluster_refuses_open_address_without_keys() -> None:
    with pytest.raises(SecurityError, match="without keys"):
        Cluster("tcp://0.0.0.0:0")
    # Nothing was bound: the refusal comes first.
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("with_keys", [False, True])
def test_cluster_failed_bind_leaks_nothing(
    with_keys: bool, keys: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    me = psutil.Process()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"

        def attempt() -> None:
            with pytest.raises(zmq.ZMQError):
                Cluster(address, keys=keys if with_keys else None, insecure=not with_keys)

        attempt()  # the first may load libraries and make process-wide objects
        fds, threads = me.num_fds(), me.num_threads()
        for _ in range(5):
            attempt()
        assert (me.num_fds(), me.num_threads()) == (fds, threads)
    assert os.listdir(temp) == []


def closure_over(data: bytes) -> Any:
    return lambda: len(data)


@pytest.mark.timeout(60)
def test_cluster_local_fresh_partials_send_their_function_once_per_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every pickle of f that a worker loads rebuilds its closure's list: the distinct lists
    # are how many copies of f reached the workers, and a list's length how many tasks its
    # copy ran.
    mark: list[int] = []

    def f(i: int) -> tuple[int, int, int, int]:  # a local function: pickled by value
        mark.append(i)
        return (os.getpid(), id(mark), len(mark), i)

    dag = wide(200)
    # Past this, a run's end releases its functions on both sides.
    monkeypatch.setattr(function_store, "KEEP_FUNCTIONS_BYTES", 0)
    with dagron.LocalCluster(n_workers=2) as cluster:
        for _ in range(2):
            tasks = {f"n{i}": functools.partial(f, i) for i in range(200)}
            result = DAGExecutor(dag, backend=cluster).execute(tasks)
            values = [result[f"n{i}"].result for i in range(200)]
            assert [v[3] for v in values] == list(range(200))
            assert len({v[:2] for v in values}) <= 2, "f travelled with every task"
            for pid in {v[0] for v in values}:  # released last run: each worker's f is new
                ran = [v[2] for v in values if v[0] == pid]
                assert max(ran) == len(ran), "the released f was still used"


@pytest.mark.timeout(60)
def test_cluster_local_fresh_closures_send_the_helper_they_call_once_per_worker() -> None:
    # As for partials above: distinct lists are the copies of f that reached the workers.
    mark: list[int] = []

    def f(i: int) -> tuple[int, int, int]:  # a local function: pickled by value
        mark.append(i)
        return (os.getpid(), id(mark), i)

    def make(i: int) -> Any:
        return lambda: f(i)

    dag = wide(200)
    with dagron.LocalCluster(n_workers=2) as cluster:
        tasks: dict[str, Any] = {f"n{i}": (lambda i=i: f(i)) for i in range(100)}
        tasks.update({f"n{i}": make(i) for i in range(100, 200)})
        result = DAGExecutor(dag, backend=cluster).execute(tasks)
        values = [result[f"n{i}"].result for i in range(200)]
        assert [v[2] for v in values] == list(range(200))
        assert len({v[:2] for v in values}) <= 2, "f travelled with every closure"
        passed = DAGExecutor(chain(3), backend=cluster).execute(
            {f"c{i}": (lambda inputs, i=i: i + sum(inputs.values())) for i in range(3)},
            pass_results=True,
        )
        assert [passed[f"c{i}"].result for i in range(3)] == [0, 1, 3]


@pytest.mark.timeout(60)
def test_cluster_local_run_sees_what_its_functions_close_over_now() -> None:
    # As on threads: a function changed between runs (here, what its closure holds) runs as
    # it is now, though the workers keep functions across runs.
    settings = {"factor": 1}

    def scaled(i: int) -> int:  # a local function: pickled by value
        return i * settings["factor"]

    dag = wide(4)
    with dagron.LocalCluster(n_workers=2) as cluster:
        for factor in (1, 10, 10, 3):
            settings["factor"] = factor
            tasks = {f"n{i}": functools.partial(scaled, i) for i in range(4)}
            result = DAGExecutor(dag, backend=cluster).execute(tasks)
            assert [result[f"n{i}"].result for i in range(4)] == [i * factor for i in range(4)]


@pytest.mark.timeout(120)
def test_cluster_local_many_runs_of_fresh_big_closures_do_not_grow_memory() -> None:
    me = psutil.Process()
    dag = wide(1)
    with dagron.LocalCluster(n_workers=1) as cluster:
        worker = psutil.Process(cluster.workers[0]["pid"])

        def run() -> None:
            data = os.urandom(20 * 2**20)  # fresh for every run, as a new closure's would be
            result = DAGExecutor(dag, backend=cluster).execute({"n0": closure_over(data)})
            assert result["n0"].result == len(data)

        for _ in range(3):
            run()
        rss, worker_rss = me.memory_info().rss, worker.memory_info().rss
        for _ in range(17):
            run()
        assert me.memory_info().rss - rss < 150 * 2**20, "the coordinator kept the closures"
        assert worker.memory_info().rss - worker_rss < 150 * 2**20, "the worker kept them"


def test_cluster_keygen_command_writes_usable_keys(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagron.workers.cli import dagron_main; dagron_main()",
            "keygen",
            str(tmp_path / "k"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "coordinator.key" in out.stdout
    names = sorted(f.name for f in (tmp_path / "k").iterdir())
    assert names == [
        "authorized",
        "coordinator.key",
        "coordinator.key_secret",
        "worker.key",
        "worker.key_secret",
    ]
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o700


def test_cluster_remote_workers_run_and_leave_on_close(
    keys: str, hosts: list[subprocess.Popen[bytes]]
) -> None:
    with Cluster("tcp://127.0.0.1:*", keys=keys, heartbeat_timeout=3.0) as cluster:
        hosts.append(start_host(cluster.address, keys, nprocs=2))
        cluster.wait_for_workers(2, timeout=60)
        result = DAGExecutor(wide(200), backend=cluster).execute(
            {f"n{i}": os.getpid for i in range(200)}
        )
        assert result.succeeded == 200
        pids = {w["pid"] for w in cluster.workers}
        assert {r.result for r in result.node_results.values()} <= pids
        assert all(not w["local"] and w["slots"] == 1 for w in cluster.workers)
        assert sum(w["tasks_done"] for w in cluster.workers) == 200
    assert hosts[0].wait(30) == 0  # told to leave: the nanny exits cleanly


class LoadsBadly:
    """A task that pickles here, but whose unpickling raises: no worker can load it."""

    def __call__(self) -> int:
        return 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (int, ("cannot load me",))


@pytest.mark.timeout(30)
def test_cluster_task_remote_workers_cannot_load_fails_after_its_attempts(
    hosts: list[subprocess.Popen[bytes]],
) -> None:
    dag = wide(3)
    bad = LoadsBadly()
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=10.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address, None, nprocs=2))
        cluster.wait_for_workers(2, timeout=30)
        result = DAGExecutor(dag, backend=cluster, retries=1, fail_fast=False).execute(
            {"n0": bad, "n1": bad, "n2": os.getpid}
        )
    for name in ("n0", "n1"):
        r = result.node_results[name]
        assert r.status is NodeStatus.FAILED and r.attempts == 2
        assert isinstance(r.error, SerializationError) and r.error.what == "task"
        text = str(r.error)
        assert "could not be loaded on the worker" in text and "cannot load me" in text
    assert result.node_results["n2"].status is NodeStatus.COMPLETED


def test_cluster_worker_without_keys_is_refused(keys: str, tmp_path: Path) -> None:
    other = str(generate_keys(tmp_path / "other"))
    with Cluster("tcp://127.0.0.1:*", keys=keys) as cluster:
        intruders = [
            subprocess.Popen([sys.executable, "-m", "dagron.workers.worker", cluster.address]),
            subprocess.Popen(
                [sys.executable, "-m", "dagron.workers.worker", cluster.address, "--keys", other]
            ),
        ]
        try:
            with pytest.raises(dagron.WorkerStartError):
                cluster.wait_for_workers(1, timeout=3)
            assert cluster.workers == []
        finally:
            for proc in intruders:
                proc.kill()
                proc.wait()


def test_cluster_nanny_restarts_a_crashed_worker(
    keys: str, hosts: list[subprocess.Popen[bytes]]
) -> None:
    with Cluster("tcp://127.0.0.1:*", keys=keys, heartbeat_timeout=3.0) as cluster:
        hosts.append(start_host(cluster.address, keys, nprocs=1))
        cluster.wait_for_workers(1, timeout=60)
        first = cluster.workers[0]["pid"]
        dag = wide(1)
        result = DAGExecutor(dag, backend=cluster, retries=1).execute(
            {"n0": lambda: os.kill(os.getpid(), signal.SIGKILL)}
        )
        assert result.node_results["n0"].status is NodeStatus.FAILED
        assert isinstance(result.node_results["n0"].error, dagron.WorkerLostError)
        cluster.wait_for_workers(1, timeout=60)
        after = DAGExecutor(dag, backend=cluster).execute({"n0": os.getpid})
        assert after.node_results["n0"].result != first


def test_cluster_workers_exit_when_coordinator_dies(keys: str, tmp_path: Path) -> None:
    script = (
        "import sys, time, dagron\n"
        f"c = dagron.Cluster('tcp://127.0.0.1:*', keys={keys!r})\n"
        "print(c.address, flush=True)\n"
        "time.sleep(600)\n"
    )
    coordinator = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        address = coordinator.stdout.readline().strip() if coordinator.stdout else ""
        host = subprocess.Popen(
            [*WORKER_CMD, address, "--keys", keys, "--death-timeout", "2", "--nprocs", "1"],
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        coordinator.kill()
        _, err = host.communicate(timeout=60)
        assert host.returncode == 1
        assert "unreachable" in err
    finally:
        coordinator.kill()
        coordinator.wait()
        if coordinator.stdout:
            coordinator.stdout.close()


def touch_then_hold_the_gil(marker: str) -> int:
    Path(marker).touch()
    return sum(range(10**12))  # one C call: no other thread of the worker runs meanwhile


@pytest.mark.timeout(60)
def test_cluster_host_workers_die_with_a_killed_nanny_while_a_task_holds_the_gil(
    hosts: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    marker = tmp_path / "began"
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=2.0, insecure=True) as cluster:
        host = start_host(cluster.address, None, 1)
        hosts.append(host)
        cluster.wait_for_workers(1, timeout=30)
        pid = cluster.workers[0]["pid"]
        results: list[dagron.ExecutionResult] = []
        run = threading.Thread(
            target=lambda: results.append(
                DAGExecutor(wide(1), backend=cluster).execute(
                    {"n0": lambda: touch_then_hold_the_gil(str(marker))}
                )
            )
        )
        run.start()
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, "the task never began"
                time.sleep(0.02)
            host.kill()  # the nanny: no chance to stop its workers
            host.wait()
            assert wait_for_gone([pid], timeout=5.0) == [], "a worker outlived its nanny"
        finally:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
            run.join(30)
    assert results and results[0]["n0"].status is NodeStatus.FAILED  # its worker was lost


def test_cluster_hostile_frames_do_not_disturb_a_run(hosts: list[subprocess.Popen[bytes]]) -> None:
    rng = random.Random(7)
    kinds = [p.HELLO, p.STARTED, p.RESULT, p.HEARTBEAT, p.MEMORY, b"?", b""]
    with Cluster("tcp://127.0.0.1:*", heartbeat_timeout=3.0, insecure=True) as cluster:
        hosts.append(start_host(cluster.address, None, nprocs=2))
        cluster.wait_for_workers(2, timeout=60)
        real = {w["name"] for w in cluster.workers}
        ctx = zmq.Context()
        attacker = ctx.socket(zmq.DEALER)
        attacker.setsockopt(zmq.LINGER, 0)
        attacker.connect(cluster.address)
        headers = [
            p.dump_header((1, 2, 3, 4, 5, 6)),
            p.dump_header((p.PROTOCOL_VERSION, 1, "x", "evil")),
            p.dump_header((99, os.getpid(), "x", "future")),
            p.dump_header(("a",)),
            p.dump_header((b"w0", "evil", "not a clock reading", None)),
            p.dump_header((b"w0", "evil", 1.0, ("not", "numbers"))),
            b"\x80\x05garbage",
            os.urandom(64),
        ]
        try:
            for _ in range(300):
                frames = [rng.choice(kinds)] + [
                    rng.choice(headers) for _ in range(rng.randrange(0, 4))
                ]
                attacker.send_multipart(frames)
            result = DAGExecutor(wide(300), backend=cluster).execute(
                {f"n{i}": (lambda i=i: i * 2) for i in range(300)}
            )
            for _ in range(300):
                attacker.send_multipart([rng.choice(kinds), rng.choice(headers)])
        finally:
            attacker.close()
            ctx.term()
        assert result.succeeded == 300
        assert [r.result for r in result.node_results.values()] == [i * 2 for i in range(300)]
        # Only the real workers ran anything; a peer speaking another protocol never joined.
        assert {r.worker for r in result.node_results.values()} <= real
        assert "future" not in {w["name"] for w in cluster.workers}


# ----- separate hosts -------------------------------------------------------------------

NETNS = netns_available()
needs_netns = pytest.mark.skipif(NETNS is not None, reason=f"multi-host tests: {NETNS}")


@pytest.fixture
def net() -> Iterator[TestNetwork]:
    with TestNetwork() as network:
        yield network


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def spread_dag(n: int) -> dagron.DAG:
    dag = dagron.DAG()
    dag.add_nodes([f"n{i}" for i in range(n)])
    dag.add_edges([(f"n{i}", f"n{i + 50}") for i in range(n - 50)])
    return dag


def work(i: int) -> tuple[int, str]:
    time.sleep(0.005)
    return i, socket.gethostname() + "/" + str(os.getpid())


# Remote hosts cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def start_hosts(net: TestNetwork, port: int, keys: str, count: int = 2) -> list[Host]:
    """``count`` hosts, each running ``dagron-worker --nprocs 2`` against our port."""
    hosts = [net.add_host() for _ in range(count)]
    for host in hosts:
        address = f"tcp://{host.gateway}:{port}"
        host.popen([*WORKER_CMD, address, "--keys", keys, "--nprocs", "2", "--name", host.name])
    return hosts


@needs_netns
def test_cluster_two_hosts_share_a_run(keys: str, net: TestNetwork) -> None:
    port = free_port()
    with Cluster(f"tcp://0.0.0.0:{port}", keys=keys, heartbeat_timeout=3.0) as cluster:
        a, b = start_hosts(net, port, keys)
        cluster.wait_for_workers(4, timeout=90)
        assert {w["name"].rsplit("/", 1)[0] for w in cluster.workers} == {a.name, b.name}
        result = DAGExecutor(spread_dag(1000), backend=cluster).execute(
            {f"n{i}": (lambda i=i: work(i)) for i in range(1000)}
        )
        assert result.succeeded == 1000
        by_host = {(r.worker or "").rsplit("/", 1)[0] for r in result.node_results.values()}
        assert by_host == {a.name, b.name}
        assert [r.result[0] for r in result.node_results.values()] == list(range(1000))


@needs_netns
def test_cluster_cut_off_host_loses_nothing(keys: str, net: TestNetwork) -> None:
    port = free_port()
    with Cluster(f"tcp://0.0.0.0:{port}", keys=keys, heartbeat_timeout=2.0) as cluster:
        a, b = start_hosts(net, port, keys)
        cluster.wait_for_workers(4, timeout=90)
        ran: list[str] = []

        def on_complete(name: str, *_: object) -> None:
            ran.append(name)
            if len(ran) == 200:
                net.cut(a)  # mid-run, host a drops off the network

        result = DAGExecutor(
            spread_dag(1000),
            backend=cluster,
            retries=3,
            callbacks=dagron.ExecutionCallbacks(on_complete=on_complete),
        ).execute({f"n{i}": (lambda i=i: work(i)) for i in range(1000)})
        assert result.succeeded == 1000, result
        assert len(ran) == len(set(ran)) == 1000  # every node recorded exactly once
        late = [r for r in list(result.node_results.values())[600:]]
        assert {(r.worker or "").rsplit("/", 1)[0] for r in late} == {b.name}
        lost = [r for r in result.node_results.values() if r.attempts > 1]
        assert all(r.status is NodeStatus.COMPLETED for r in lost)


def logged_work(i: int, log_dir: str) -> int:
    """Notes each run of node ``i`` in ``log_dir`` (one line per run), then works."""
    with open(os.path.join(log_dir, f"n{i}"), "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.005)
    return i


@needs_netns
def test_cluster_cut_off_host_counts_every_run_in_attempts(
    keys: str, net: TestNetwork, tmp_path: Path
) -> None:
    # A host cut off runs on what it held (the task it ran and those queued behind it);
    # each of those runs, and its rerun elsewhere, must show in the node's attempts.
    port = free_port()
    (tmp_path / "runs").mkdir()
    log_dir = str(tmp_path / "runs")
    with Cluster(f"tcp://0.0.0.0:{port}", keys=keys, heartbeat_timeout=2.0) as cluster:
        a, _ = start_hosts(net, port, keys)
        cluster.wait_for_workers(4, timeout=90)
        done: list[str] = []

        def on_complete(name: str, *_: object) -> None:
            done.append(name)
            if len(done) == 200:
                net.cut(a)

        result = DAGExecutor(
            spread_dag(600),
            backend=cluster,
            retries=3,
            callbacks=dagron.ExecutionCallbacks(on_complete=on_complete),
        ).execute({f"n{i}": (lambda i=i: logged_work(i, log_dir)) for i in range(600)})
        assert result.succeeded == 600, result
    runs = {p.name: len(p.read_text().split()) for p in (tmp_path / "runs").iterdir()}
    assert max(runs.values()) >= 2  # the cut came mid-run: some nodes ran twice
    uncounted = {
        name: (n, result.node_results[name].attempts)
        for name, n in runs.items()
        if n > result.node_results[name].attempts
    }
    assert uncounted == {}, "runs not counted in attempts (runs, attempts)"


@needs_netns
def test_cluster_host_without_keys_is_refused(keys: str, net: TestNetwork, tmp_path: Path) -> None:
    port = free_port()
    wrong = str(generate_keys(tmp_path / "wrong"))
    shutil.copy(Path(keys) / "coordinator.key", Path(wrong) / "coordinator.key")
    with Cluster(f"tcp://0.0.0.0:{port}", keys=keys) as cluster:
        a = net.add_host()
        a.popen([*WORKER_CMD, f"tcp://{a.gateway}:{port}", "--keys", wrong, "--nprocs", "1"])
        with pytest.raises(dagron.WorkerStartError):
            cluster.wait_for_workers(1, timeout=4)
        assert cluster.workers == []


def test_cluster_worker_host_stops_cleanly_on_sigterm(keys: str) -> None:
    import psutil

    with Cluster("tcp://127.0.0.1:*", keys=keys) as cluster:
        host = start_host(cluster.address, keys, nprocs=2)
        try:
            cluster.wait_for_workers(2, timeout=60)
            children = psutil.Process(host.pid).children()  # its workers and its janitor
            workers = [c for c in children if "dagron.workers.worker" in " ".join(c.cmdline())]
            assert len(workers) == 2
            host.send_signal(signal.SIGTERM)
            assert host.wait(30) == 0
            _gone, alive = psutil.wait_procs(children, timeout=10)
            assert alive == []
        finally:
            host.kill()
            host.wait()


@needs_netns
def test_cluster_host_rejoins_after_its_link_heals(keys: str, net: TestNetwork) -> None:
    port = free_port()
    with Cluster(f"tcp://0.0.0.0:{port}", keys=keys, heartbeat_timeout=2.0) as cluster:
        (a,) = start_hosts(net, port, keys, count=1)
        cluster.wait_for_workers(2, timeout=90)
        before = {w["pid"] for w in cluster.workers}
        net.cut(a)
        deadline = time.monotonic() + 30
        while cluster.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cluster.workers == []  # declared lost
        net.restore(a)
        cluster.wait_for_workers(2, timeout=60)
        assert {w["pid"] for w in cluster.workers} == before  # the same processes, back
        result = DAGExecutor(wide(50), backend=cluster).execute(
            {f"n{i}": os.getpid for i in range(50)}
        )
        assert result.succeeded == 50


def big_result(n: int) -> bytes:
    return bytes(range(256)) * (n // 256)


def long_failure(n: int) -> None:
    raise ValueError("x" * n)


@pytest.mark.timeout(120)
def test_cluster_with_keys_carries_parts_larger_than_its_frame_limit(
    keys: str, hosts: list[subprocess.Popen[bytes]]
) -> None:
    from dagron.workers.pieces import MAX_FRAME

    n = 2 * MAX_FRAME + 4096
    with Cluster("tcp://127.0.0.1:*", keys=keys) as cluster:
        hosts.append(start_host(cluster.address, keys, nprocs=1))
        cluster.wait_for_workers(1, timeout=60)
        dag = wide(2)
        result = DAGExecutor(dag, backend=cluster).execute(
            {"n0": functools.partial(big_result, n), "n1": functools.partial(long_failure, n)}
        )
    assert result.node_results["n0"].result == big_result(n)
    error = result.node_results["n1"].error
    assert isinstance(error, ValueError) and len(str(error)) == n


@pytest.mark.timeout(120)
def test_cluster_large_result_from_a_keyed_remote_worker_arrives_under_a_short_heartbeat_timeout(
    keys: str, hosts: list[subprocess.Popen[bytes]]
) -> None:
    size = 256 << 20  # cut into pieces, each encrypted on both sides
    with Cluster("tcp://127.0.0.1:*", keys=keys, heartbeat_timeout=2.0) as cluster:
        hosts.append(start_host(cluster.address, keys, nprocs=1))
        cluster.wait_for_workers(1, timeout=60)
        pid = cluster.workers[0]["pid"]
        result = DAGExecutor(wide(1), backend=cluster).execute(
            {"n0": functools.partial(big_result, size)}
        )
        r = result.node_results["n0"]
        assert r.status is NodeStatus.COMPLETED, r.error
        assert r.result == big_result(size) and r.attempts == 1
        assert [w["pid"] for w in cluster.workers] == [pid]
