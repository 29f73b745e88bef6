"""``dagron-worker``: a configuration error is one clear message and a non-zero exit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagron import Cluster
from dagron.workers.security import generate_keys

WORKER_CMD = [sys.executable, "-m", "dagron.workers.cli"]


def run_host(*args: str, timeout: float) -> tuple[int, str, float]:
    """Runs dagron-worker with ``args``; its exit code, stderr and how long it took. A host
    still running after ``timeout`` seconds is killed and the test fails."""
    began = time.monotonic()
    proc = subprocess.Popen([*WORKER_CMD, *args], stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"dagron-worker still running after {timeout} s; stderr:\n{err[-2000:]}")
    return proc.returncode, err, time.monotonic() - began


@pytest.mark.timeout(60)
def test_cli_worker_with_missing_keys_exits_with_one_message(tmp_path: Path) -> None:
    missing = str(tmp_path / "nonexistent")
    code, err, _ = run_host("tcp://127.0.0.1:1", "--keys", missing, "--nprocs", "2", timeout=20)
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and missing in lines[0] and "dagron keygen" in lines[0], err


@pytest.mark.timeout(60)
def test_cli_worker_with_an_unauthorized_key_says_so_and_exits(tmp_path: Path) -> None:
    keys = str(generate_keys(tmp_path / "keys"))
    wrong = str(generate_keys(tmp_path / "wrong"))  # knows the coordinator, is not known
    shutil.copy(Path(keys) / "coordinator.key", Path(wrong) / "coordinator.key")
    with Cluster("tcp://127.0.0.1:*", keys=keys) as cluster:
        code, err, took = run_host(
            cluster.address, "--keys", wrong, "--death-timeout", "30", timeout=25
        )
        assert cluster.workers == []
    assert code == 1, err
    assert "Traceback" not in err
    assert "refused this worker's key" in err
    assert took < 20


@pytest.mark.timeout(60)
def test_cli_worker_whose_handshake_never_completes_leaves_after_death_timeout(
    tmp_path: Path,
) -> None:
    # Keys against a coordinator without them: the handshake fails every time, silently.
    keys = str(generate_keys(tmp_path / "keys"))
    with Cluster("tcp://127.0.0.1:*", insecure=True) as cluster:
        code, err, took = run_host(
            cluster.address, "--keys", keys, "--death-timeout", "2", timeout=30
        )
        assert cluster.workers == []
    assert code == 1, err
    assert "Traceback" not in err and "unreachable" in err
    assert took < 20
