"""How a coordinator's local workers start: through the fork server or spawned, what a
forked worker gets, replacements, a fork server that dies, and a run that begins once one
worker has joined."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from dagron.errors import WorkerStartError
from dagron.workers import forkserver_client, pool
from dagron.workers.coordinator import Coordinator
from dagron.workers.nanny import LocalProcess
from dagron.workers.testing import collect, running_coordinator, wait_for_gone


def whereabouts() -> tuple[int, int, str, str, list[str], str]:
    return (
        os.getpid(),
        os.getppid(),
        os.getcwd(),
        os.environ.get("DAGRON_TEST_MARK", ""),
        sys.path,
        os.environ.get("PYTHONUNBUFFERED", ""),
    )


def ask_each_worker(c: Coordinator, fn: Any, n: int = 4) -> list[Any]:
    for k in range(n):
        c.submit(k, fn, ())
    return [done.value.load() for done in collect(c, set(range(n))).values()]


def test_coordinator_start_forks_workers_that_get_the_callers_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGRON_TEST_MARK", "yes")
    with running_coordinator(2, start_method="forkserver") as c:
        server = forkserver_client.shared()
        assert server is not None
        for pid, ppid, cwd, mark, path, unbuffered in ask_each_worker(c, whereabouts):
            assert ppid == server.pid != os.getpid()
            assert os.getsid(pid) == pid  # each leads a session (killing its group ends all)
            assert (cwd, mark, unbuffered) == (os.getcwd(), "yes", "1")
            assert path == sys.path


def test_coordinator_start_spawn_starts_interpreters_of_our_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_coordinator(2, start_method="spawn") as c:
        for pid, ppid, *_ in ask_each_worker(c, whereabouts):
            assert ppid == os.getpid()
            assert "dagron.workers.worker" in " ".join(psutil.Process(pid).cmdline())


def test_coordinator_start_replaces_a_killed_worker_through_the_fork_server() -> None:
    with running_coordinator(1, start_method="forkserver") as c:
        (first,) = {pid for pid, *_ in ask_each_worker(c, whereabouts, 1)}
        os.kill(first, signal.SIGKILL)
        c.submit(10, whereabouts, ())
        (done,) = collect(c, {10}).values()
        pid, ppid, *_ = done.value.load()
        server = forkserver_client.shared()
        assert pid != first and server is not None and ppid == server.pid


def test_coordinator_start_reports_a_forked_workers_exit() -> None:
    with running_coordinator(1, start_method="forkserver") as c:
        c.submit(1, os._exit, (7,))
        (failed,) = collect(c, {1}).values()
        assert "exited with code 7" in str(failed[1])
        c.submit(2, os.kill, (0, signal.SIGKILL))  # its whole process group
        (failed,) = collect(c, {2}).values()
        assert "was killed by signal 9 (SIGKILL)" in str(failed[1])


def test_coordinator_start_goes_on_when_the_fork_server_dies() -> None:
    with running_coordinator(2, start_method="forkserver") as c:
        server = forkserver_client.shared()
        assert server is not None
        before = {pid for pid, *_ in ask_each_worker(c, whereabouts)}
        os.kill(server.pid, signal.SIGKILL)  # its workers die with it
        assert wait_for_gone([server.pid, *before]) == []
        c.wait(0.5)  # the coordinator sees them go and starts others
        c.wait_for_workers(2, timeout=60)
        after = {pid for pid, *_ in ask_each_worker(c, whereabouts)}
        assert after and not after & before


def test_coordinator_start_killed_coordinator_leaves_no_worker_nor_fork_server() -> None:
    script = (
        "import os\n"
        "from dagron.workers.coordinator import Coordinator\n"
        "from dagron.workers.testing import live_fork_servers\n"
        "c = Coordinator(2, start_method='forkserver'); c.open(); c.wait_for_workers(2, 60)\n"
        "print(*live_fork_servers(), *(w['pid'] for w in c.workers), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 3, out.stderr
    assert wait_for_gone(pids) == [], "a worker or the fork server outlived its coordinator"


def test_coordinator_start_begins_once_one_worker_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pool.spawn_worker
    started: list[LocalProcess] = []

    def second_never_says_hello(address: str, name: str, *args: Any, **kw: Any) -> LocalProcess:
        if started:  # connects to nobody: it never joins
            address = address + "-nobody"
        started.append(real(address, name, *args, **kw))
        return started[-1]

    monkeypatch.setattr(pool, "spawn_worker", second_never_says_hello)
    c = Coordinator(None)
    try:
        c.start(2)  # a run sized 2: it begins with one worker
        assert len(c.state.workers) == 1 and len(started) == 2
        assert c.slots == 2 and c.capacity == 2 * c.state.max_prefetch
        for k in range(3):
            c.submit(k, abs, (-k,))
        done = collect(c, {0, 1, 2})
        assert {k: r.value.load() for k, r in done.items()} == {0: 0, 1: 1, 2: 2}
    finally:
        c.close()


def test_coordinator_start_times_out_when_no_worker_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pool.spawn_worker
    monkeypatch.setattr(
        pool, "spawn_worker", lambda address, *a, **kw: real(address + "-nobody", *a, **kw)
    )
    started = time.monotonic()
    with pytest.raises(WorkerStartError, match="none of 2 workers connected within"):
        Coordinator(2, start_timeout=1.0).open()
    assert time.monotonic() - started < 30


def test_coordinator_start_fails_clearly_when_a_worker_dies_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    real = pool.spawn_worker
    missing = str(tmp_path / "missing")  # the worker cannot load its keys: it says so, exits
    monkeypatch.setattr(pool, "spawn_worker", lambda *a, **kw: real(*a, **dict(kw, keys=missing)))
    with pytest.raises(WorkerStartError, match="exited with code 6 at start"):
        Coordinator(1).open()


def test_coordinator_start_fork_server_stops_with_the_last_pool_it_forks_for() -> None:
    # In a fresh process, so that no other pool of this one holds the fork server.
    script = (
        "from dagron.workers.coordinator import Coordinator\n"
        "from dagron.workers.testing import live_fork_servers, wait_for_gone\n"
        "a = Coordinator(1, start_method='forkserver'); a.open()\n"
        "b = Coordinator(1, start_method='forkserver'); b.open()\n"
        "(server,) = live_fork_servers()\n"
        "a.close()\n"
        "assert live_fork_servers() == [server], 'b still needs it'\n"
        "b.close()\n"
        "assert wait_for_gone([server]) == [], 'it outlived the workers it was for'\n"
        "c = Coordinator(1, start_method='forkserver'); c.open()\n"
        "assert len(live_fork_servers()) == 1, 'the next pool starts another'\n"
        "c.close()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "ok", out.stderr
