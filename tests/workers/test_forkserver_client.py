"""This process's fork server: shared, replaced when it dies, and a fork that finds it gone
says so (the caller spawns instead)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dagron.workers import forkserver_client as fsc
from dagron.workers.nanny import spawn_worker
from dagron.workers.testing import wait_for_gone


def test_forkserver_client_shares_one_server_and_replaces_a_dead_one(tmp_path: Path) -> None:
    first = fsc.shared()
    assert first is not None and fsc.shared() is first
    os.kill(first.pid, signal.SIGKILL)
    assert wait_for_gone([first.pid]) == []
    # The next start finds it gone: that worker is spawned, and a new fork server started.
    proc = spawn_worker(f"ipc://{tmp_path}/nobody", "h/w0", start_method="forkserver")
    try:
        assert not first.alive
        assert proc.popen.pid and os.getppid() != proc.pid
        second = fsc.shared()
        assert second is not None and second is not first and second.alive
    finally:
        proc.kill()
        proc.reap(10)
        proc.close_fd()


def test_forkserver_client_fork_on_a_closed_server_is_unavailable() -> None:
    server = fsc.ForkServer()
    server.close()
    with pytest.raises(fsc.ForkUnavailable, match="gone"):
        server.fork(["ipc:///nowhere"], dict(os.environ))
