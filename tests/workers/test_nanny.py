"""Worker command lines, as the coordinator and the nanny start them."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest

from dagron.workers import worker
from dagron.workers.nanny import WorkerNanny, worker_command


def options(cmd: list[str]) -> dict[str, str]:
    """``--flag value`` pairs after the address and the bare flags (value "")."""
    out: dict[str, str] = {}
    rest = cmd[4:]
    while rest:
        flag, rest = rest[0], rest[1:]
        if rest and not rest[0].startswith("--"):
            out[flag], rest = rest[0], rest[1:]
        else:
            out[flag] = ""
    return out


def test_worker_command_minimal_watches_this_process_and_forwards_output() -> None:
    cmd = worker_command("tcp://h:1", "h/0")
    assert cmd[:4] == [sys.executable, "-m", "dagron.workers.worker", "tcp://h:1"]
    assert options(cmd) == {
        "--name": "h/0",
        "--parent-pid": str(os.getpid()),
        "--forward-output": "",
    }


def test_worker_command_passes_every_option_given() -> None:
    cmd = worker_command(
        "tcp://h:1",
        "h/0",
        status_file="/tmp/s",
        keys="/k",
        shm_dir="/dev/shm/x",
        death_timeout=60.0,
        heartbeat=0.5,
        memory_limit=1 << 30,
        log_level=10,
        identity="wab12",
    )
    assert options(cmd) == {
        "--name": "h/0",
        "--parent-pid": str(os.getpid()),
        "--death-timeout": "60.0",
        "--heartbeat": "0.5",
        "--status-file": "/tmp/s",
        "--keys": "/k",
        "--shm-dir": "/dev/shm/x",
        "--memory-limit": str(1 << 30),
        "--forward-output": "",
        "--log-level": "10",
        "--identity": "wab12",
    }


def test_worker_command_parses_as_the_worker_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []

    class FakeWorker:
        def __init__(self, address: str, name: str, **kwargs: Any) -> None:
            started.append(dict(kwargs, address=address, name=name))

        def run(self) -> None:
            pass

    monkeypatch.setattr(worker, "Worker", FakeWorker)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main ignores Ctrl-C
    # main ties the process to its parent: not this test's process, whose parent is not us
    monkeypatch.setattr(worker, "die_with_parent", lambda parent_pid: True)
    cmd = worker_command(
        "tcp://h:1", "h/0", death_timeout=2.5, memory_limit=7, log_level=20, identity="wab12"
    )
    assert worker.main(cmd[3:]) == 0
    (got,) = started
    assert got["identity"] == b"wab12"  # the nanny's name for it
    assert (got["address"], got["name"], got["parent_pid"]) == ("tcp://h:1", "h/0", os.getpid())
    assert (got["death_timeout"], got["memory_limit"], got["log_level"]) == (2.5, 7, 20)
    assert got["forward_output"] is True
    assert got["heartbeat_period"] == 1.0  # the worker's default, as none was given


@pytest.mark.timeout(60)
def test_worker_nanny_stops_when_its_workers_cannot_load_their_keys(
    tmp_path: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    # dagron-worker checks the keys first; the nanny must not loop either if they go
    # missing behind its back (a worker that cannot load them exits EXIT_BAD_CONFIG).
    missing = str(tmp_path / "gone")
    nanny = WorkerNanny("tcp://127.0.0.1:1", 2, keys=missing, death_timeout=30)
    assert nanny.run() == 1
    assert nanny.restarts == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and missing in err
