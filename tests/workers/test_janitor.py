"""A coordinator that ends without closing (a signal, a crash) leaves nothing behind: no
worker, no process its tasks started, no socket directory, no shared-memory directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from dagron.workers.janitor import Janitor
from dagron.workers.testing import wait_for_gone, wait_for_no_segment_dirs

# A processes run whose task notes its worker's pid and a child process's, then sleeps.
RUN = """
import subprocess, sys, time, dagron
marker = sys.argv[1]
def task():
    import os
    child = subprocess.Popen(["sleep", "1000"])
    with open(marker + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.rename(marker + ".tmp", marker)
    time.sleep(600)
dag = dagron.DAG(); dag.add_node("a")
dagron.DAGExecutor(dag, backend="processes").execute({"a": task})
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_janitor_cleans_up_after_a_coordinator_killed_by(signum: int, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    marker = tmp_path / "pids"
    env = dict(os.environ, TMPDIR=str(temp))
    with subprocess.Popen([sys.executable, "-c", RUN, str(marker)], env=env) as script:
        pids: list[int] = []
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, "the task never began"
                time.sleep(0.02)
            pids = [int(w) for w in marker.read_text().split()]
            assert [d for d in os.listdir(temp) if d.startswith("dagron-")], "no ipc dir?"
            script.send_signal(signum)
            assert script.wait(30) == -signum  # still "killed by" that signal
            assert wait_for_gone(pids, timeout=5.0) == [], "a worker or its child lived on"
            deadline = time.monotonic() + 5
            while os.listdir(temp) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert os.listdir(temp) == [], "the coordinator's directory outlived it"
            left = wait_for_no_segment_dirs(set(), owner=script.pid)
            assert left == set(), "its shared memory outlived it"
        finally:
            script.kill()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


@pytest.mark.timeout(30)
def test_janitor_closed_leaves_what_it_was_told_of_alone(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    with subprocess.Popen(["sleep", "1000"], start_new_session=True) as sleeper:
        try:
            janitor = Janitor()
            janitor.remove_path(str(kept))
            janitor.watch_group(sleeper.pid)
            janitor.close()
            janitor.close()  # twice is fine
            # The janitor is gone once no process but us holds it: wait for it to leave.
            deadline = time.monotonic() + 10
            while janitor_pids() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert janitor_pids() == []
            assert kept.exists() and sleeper.poll() is None
        finally:
            sleeper.kill()


def janitor_pids() -> list[int]:
    """Our live child processes running the janitor's script."""
    out = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "-I" in child.cmdline():
                out.append(child.pid)
        except psutil.Error:
            continue
    return out
