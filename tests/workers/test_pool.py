"""Local worker processes without a coordinator: they are started for real but nobody answers
them, so the pool is driven by hand (a hello is a call to ``joined``)."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from dagron.workers.pool import MEMORY_CHECK_PERIOD, LocalPool, MemoryExceeded, ProcessExited

MakePool = Callable[..., LocalPool]


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[MakePool]:
    made: list[LocalPool] = []

    def make(size: int, **kwargs: Any) -> LocalPool:
        pool = LocalPool(size, f"ipc://{tmp_path}/nobody", str(tmp_path), **kwargs)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        for proc in pool.procs.values():
            proc.kill()  # nobody asks them to leave
        pool.close()


def wait_for_exits(pool: LocalPool, replace: bool, timeout: float = 30) -> Sequence[ProcessExited]:
    """Polls the pool's exit notifications as the coordinator does, until one fires."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poller = select.poll()
        for fd in pool.exit_fds:
            poller.register(fd, select.POLLIN)
        events = dict(poller.poll(pool.wake_ms if pool.wake_ms is not None else 100))
        exits = pool.exited(events, replace)
        if exits:
            return exits
    raise AssertionError("no exit reported")


def test_pool_starts_named_workers_with_status_pages(make_pool: MakePool, tmp_path: Path) -> None:
    pool = make_pool(2)
    pool.start()
    assert len(pool.procs) == 2
    host = os.uname().nodename
    for name, proc in pool.procs.items():
        assert proc.name == name and name.startswith(f"{host}/w")
        assert proc.alive() and proc.pidfd is not None
        assert proc.status_file is not None
        assert os.path.dirname(proc.status_file) == str(tmp_path)
    assert pool.exit_fds == {p.pidfd: p for p in pool.procs.values()}
    assert pool.wake_ms is None  # nothing to check between exits


def test_pool_reports_an_exit_and_replaces_the_worker(make_pool: MakePool) -> None:
    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    assert pool.joined(proc.name, proc.pid, b"w-1")
    version = pool.version
    os.kill(proc.pid, signal.SIGKILL)
    (exited,) = wait_for_exits(pool, replace=True)
    assert exited == ProcessExited(
        b"w-1", f"worker {proc.name} (pid {proc.pid}) was killed by signal 9 (SIGKILL)", None
    )
    assert proc.status_file is not None and not os.path.exists(proc.status_file)
    assert b"w-1" not in pool.by_id
    (newcomer,) = pool.procs.values()
    assert newcomer.name != proc.name and newcomer.alive()
    assert pool.version != version and list(pool.exit_fds) == [newcomer.pidfd]


def test_pool_without_replacing_shrinks(make_pool: MakePool) -> None:
    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    proc.kill()
    (exited,) = wait_for_exits(pool, replace=False)
    assert exited.identity is None  # it never said hello
    assert pool.procs == {} and pool.exit_fds == {}


def test_pool_exit_reports_why_it_was_killed(make_pool: MakePool) -> None:
    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    assert pool.joined(proc.name, proc.pid, b"w-1")
    pool.kill(b"w-1", "cancelled while running")
    (exited,) = wait_for_exits(pool, replace=False)
    assert exited.reason == "cancelled while running"


def test_pool_joined_refuses_a_stranger(make_pool: MakePool) -> None:
    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    assert not pool.joined(proc.name, proc.pid + 1, b"impostor")
    assert not pool.joined("elsewhere/w0", proc.pid, b"impostor")
    assert pool.by_id == {} and proc.identity is None


def test_pool_asks_processes_without_a_pidfd(
    make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError("not here")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    assert proc.pidfd is None and pool.exit_fds == {}
    assert pool.wake_ms == 100  # polls must wake up to ask it
    proc.kill()
    (exited,) = wait_for_exits(pool, replace=True)
    assert "killed by signal 9" in exited.reason
    assert len(pool.procs) == 1


def test_pool_reports_a_worker_over_its_memory_limit_once(make_pool: MakePool) -> None:
    pool = make_pool(2, memory_limit=1)  # one byte: every process is over it
    pool.start()
    assert pool.wake_ms == int(MEMORY_CHECK_PERIOD * 1000)
    joined, _unjoined = pool.procs.values()
    assert pool.joined(joined.name, joined.pid, b"w-1")
    (over,) = pool.watch()  # only a joined worker can be written off
    assert isinstance(over, MemoryExceeded) and over.identity == b"w-1"
    assert over.reason.startswith(f"worker {joined.name} (pid {joined.pid}) used ")
    assert over.reason.endswith("over its memory limit of 0 MiB, and was restarted")
    time.sleep(MEMORY_CHECK_PERIOD * 1.5)
    assert list(pool.watch()) == []  # already reported
    pool.kill(b"w-1", "a later reason")
    (exited,) = wait_for_exits(pool, replace=False)  # killed by watch() already
    assert exited.reason == over.reason  # the first reason is the one its tasks get


def test_pool_kills_a_worker_that_stopped_answering(make_pool: MakePool) -> None:
    pool = make_pool(1, heartbeat_timeout=0.5)
    pool.start()
    (proc,) = pool.procs.values()
    assert pool.joined(proc.name, proc.pid, b"w-1")
    os.kill(proc.pid, signal.SIGSTOP)
    # Heard from, it is left alone however still it is.
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        pool.heard_from(b"w-1", time.monotonic())
        pool.watch()
        time.sleep(0.05)
    assert proc.killed_for is None and proc.alive()
    deadline = time.monotonic() + 10
    while proc.killed_for is None and time.monotonic() < deadline:
        pool.heard_from(b"stranger", time.monotonic())  # not one of ours: changes nothing
        pool.watch()
        time.sleep(0.05)
    (exited,) = wait_for_exits(pool, replace=True)
    assert exited.identity == b"w-1"
    assert exited.reason.startswith(f"worker {proc.name} (pid {proc.pid}) stopped answering")
    assert len(pool.procs) == 1 and proc.name not in pool.procs  # replaced


def test_pool_close_stops_every_worker(make_pool: MakePool) -> None:
    pool = make_pool(2)
    pool.start()
    procs = list(pool.procs.values())
    assert pool.joined(procs[0].name, procs[0].pid, b"w-1")
    assert pool.joined(procs[1].name, procs[1].pid, b"w-2")
    pool.kill_busy(lambda ident: ident == b"w-1")
    started = time.monotonic()
    pool.close()  # the other one is never asked to leave: killed after the grace period
    assert 1.5 < time.monotonic() - started < 10
    assert all(not p.alive() and p.pidfd is None for p in procs)
    assert procs[0].popen.returncode == -signal.SIGKILL
    assert pool.procs == {} and pool.by_id == {} and pool.exit_fds == {}


def test_pool_close_kills_workers_that_never_said_hello_at_once(make_pool: MakePool) -> None:
    pool = make_pool(2)
    pool.start()
    procs = list(pool.procs.values())
    started = time.monotonic()
    pool.close()  # nobody could have told them to leave
    assert time.monotonic() - started < 1.5
    assert all(p.popen.returncode == -signal.SIGKILL for p in procs)


def test_pool_names_are_unique_across_pools(make_pool: MakePool) -> None:
    first, second = make_pool(1), make_pool(1)
    first.start()
    second.start()
    assert set(first.procs).isdisjoint(second.procs)


def test_pool_stops_replacing_workers_that_keep_dying_before_hello(make_pool: MakePool) -> None:
    from dagron.errors import WorkerStartError

    pool = make_pool(1)
    pool.start()
    (proc,) = pool.procs.values()
    proc.kill()
    wait_for_exits(pool, replace=True)  # once: replaced
    (proc,) = pool.procs.values()
    proc.kill()
    with pytest.raises(WorkerStartError, match="at start"):
        wait_for_exits(pool, replace=True)  # again, with none joined since: a lasting fault
