"""The fork server process: what a worker it forks gets (a session of its own, the caller's
stdio, environment, directory and path, none of its descriptors) and how its exit is told.

Each test starts a fork server of its own. The workers forked connect to an address nobody
serves: they wait for a coordinator until their death timeout, or exit at once on a key
directory that does not exist, which is all these tests need of them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dagron.workers.forkserver_client import ForkedProcess, ForkServer
from dagron.workers.nanny import worker_args
from dagron.workers.protocol import EXIT_BAD_CONFIG, EXIT_COORDINATOR_GONE
from dagron.workers.testing import wait_for_gone


@pytest.fixture
def server() -> Iterator[ForkServer]:
    fs = ForkServer()
    yield fs
    fs.close()


def fork(server: ForkServer, tmp_path: Path, *extra: str) -> tuple[ForkedProcess, int]:
    args = worker_args(f"ipc://{tmp_path}/nobody", "h/w0", parent_pid=server.pid)
    forked, pidfd = server.fork([*args, *extra], dict(os.environ, DAGRON_TEST_MARK="yes"))
    assert pidfd is not None
    return forked, pidfd


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:") and int(fd) > 2:
            out.add(target)
    return out


def test_forkserver_worker_leads_a_session_and_is_the_fork_servers_child(
    server: ForkServer, tmp_path: Path
) -> None:
    forked, pidfd = fork(server, tmp_path, "--death-timeout", "30")
    try:
        proc = psutil.Process(forked.pid)
        assert proc.ppid() == server.pid
        assert os.getsid(forked.pid) == forked.pid == os.getpgid(forked.pid)
        assert proc.cwd() == os.getcwd()
        assert forked.poll() is None
    finally:
        forked.kill()
        assert forked.wait(10) == -signal.SIGKILL
        os.close(pidfd)


def test_forkserver_reports_a_workers_exit_code(server: ForkServer, tmp_path: Path) -> None:
    forked, pidfd = fork(server, tmp_path, "--death-timeout", "0.2")
    os.close(pidfd)
    assert forked.wait(30) == EXIT_COORDINATOR_GONE


def test_forkserver_worker_writes_to_the_callers_stderr(
    server: ForkServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    forked, pidfd = fork(server, tmp_path, "--keys", str(tmp_path / "missing"))
    os.close(pidfd)
    assert forked.wait(30) == EXIT_BAD_CONFIG
    assert "dagron worker h/w0" in capfd.readouterr().err


def test_forkserver_pidfd_becomes_readable_when_the_worker_ends(
    server: ForkServer, tmp_path: Path
) -> None:
    import select

    forked, pidfd = fork(server, tmp_path, "--death-timeout", "30")
    try:
        assert select.select([pidfd], [], [], 0)[0] == []
        os.kill(forked.pid, signal.SIGKILL)
        assert select.select([pidfd], [], [], 10)[0] == [pidfd]
        assert forked.wait(10) == -signal.SIGKILL
    finally:
        os.close(pidfd)


def test_forkserver_holds_no_zmq_context_and_passes_no_descriptor_on(
    server: ForkServer, tmp_path: Path
) -> None:
    forked, pidfd = fork(server, tmp_path, "--death-timeout", "30")
    try:
        fs = psutil.Process(server.pid)
        assert fs.num_threads() == 1  # a ZeroMQ context would have started its I/O threads
        assert not any(
            "eventfd" in os.readlink(f"/proc/{server.pid}/fd/{fd}")
            for fd in os.listdir(f"/proc/{server.pid}/fd")
        )
        theirs = socket_inodes(server.pid) | socket_inodes(os.getpid())
        assert theirs, "the fork server's socket pair"
        assert socket_inodes(forked.pid) & theirs == set()
    finally:
        forked.kill()
        forked.wait(10)
        os.close(pidfd)


def test_forkserver_leaves_when_its_socket_closes_and_its_workers_die_with_it(
    server: ForkServer, tmp_path: Path
) -> None:
    forked, pidfd = fork(server, tmp_path, "--death-timeout", "30")
    os.close(pidfd)
    server.close()
    assert wait_for_gone([server.pid, forked.pid]) == []
    assert forked.wait(10) == -signal.SIGKILL  # told by no one: gone with its fork server


def test_forkserver_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    import sys

    script = (
        "import os, sys\n"
        "from dagron.workers.forkserver_client import ForkServer\n"
        "from dagron.workers.nanny import worker_args\n"
        "fs = ForkServer()\n"
        f"args = worker_args('ipc://{tmp_path}/nobody', 'h/w0', parent_pid=fs.pid,"
        " death_timeout=60)\n"
        "forked, _ = fs.fork(args, dict(os.environ))\n"
        "print(fs.pid, forked.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    assert wait_for_gone(pids) == [], "the fork server or its worker outlived their process"
