"""execute(..., progress=True): a tqdm bar on a terminal, silence elsewhere."""

from __future__ import annotations

import doctest
import fcntl
import io
import os
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

from dagron import DAG, DAGExecutor
from dagron.progress import ProgressBar

SCRIPT = textwrap.dedent(
    """
    import asyncio, dagron
    from dagron import DAG, AsyncDAGExecutor, DAGExecutor, Pipeline, task

    dag = (
        DAG.builder()
        .add_nodes(["extract", "broken", "after_broken", "load"])
        .add_edges([("extract", "load"), ("broken", "after_broken")])
        .build()
    )
    def broken():
        raise ValueError("no")
    tasks = {"extract": lambda: 1, "broken": broken, "after_broken": print, "load": lambda: 2}
    result = DAGExecutor(dag, fail_fast=False, max_workers=2).execute(tasks, progress=True)
    assert (result.succeeded, result.failed, result.skipped) == (2, 1, 1), result

    async def one():
        return 1
    two = DAG.builder().add_nodes(["p", "q"]).build()
    asyncio.run(AsyncDAGExecutor(two).execute({"p": one, "q": one}, progress=True))

    @task
    def users():
        return ["ada"]
    @task
    def orders():
        return {"ada": 3}
    @task
    def report(users, orders):
        return len(users)
    Pipeline([users, orders, report]).execute(progress=True)
    print("finished")
    """
)


def run(stderr_is_tty: bool) -> tuple[str, str]:
    """Run SCRIPT in a fresh interpreter; returns (stdout, stderr)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    if not stderr_is_tty:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        )
        return proc.stdout, proc.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        slave = -1
        out = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if child.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            out += data
        stdout, _ = child.communicate(timeout=60)
        assert child.returncode == 0, out.decode("utf-8", "replace")
        return stdout.decode(), out.decode("utf-8", "replace")
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def final_lines(terminal: str) -> list[str]:
    """What stays on screen: the last redraw of each bar (tqdm redraws with carriage returns)."""
    # split on newlines only: a terminal ends lines with "\r\n" and "\r" is a redraw
    lines = (line.rstrip("\r").rsplit("\r", 1)[-1].strip() for line in terminal.split("\n"))
    return [line for line in lines if line]


def test_progress_bar_on_a_terminal_shows_done_total_running_failed() -> None:
    stdout, terminal = run(stderr_is_tty=True)
    assert stdout == "finished\n"
    lines = [line for line in final_lines(terminal) if line.startswith("dagron")]
    assert len(lines) == 3, terminal
    executor, async_, pipeline = lines
    assert "4/4" in executor and "100%" in executor
    assert "running=0, failed=1, skipped=1" in executor
    assert "2/2" in async_ and "failed=0" in async_
    assert "3/3" in pipeline and "node/s" in pipeline


def test_progress_is_quiet_when_stderr_is_not_a_terminal() -> None:
    stdout, stderr = run(stderr_is_tty=False)
    assert stdout == "finished\n"
    assert stderr == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_every_outcome() -> None:
    screen = Terminal()
    bar = ProgressBar(5, file=screen)
    cb = bar.callbacks()
    assert cb.on_start and cb.on_complete and cb.on_failure and cb.on_retry
    assert cb.on_skip and cb.on_timeout and cb.on_cancel
    cb.on_start("a")
    cb.on_start("b")
    cb.on_start("c")
    assert bar.running == 3
    cb.on_complete("a", 1)
    cb.on_retry("b", 2, ValueError())  # b waits for its retry: not running meanwhile
    assert (bar.running, bar.done) == (1, 1)
    cb.on_start("b")
    cb.on_failure("b", ValueError())
    cb.on_timeout("c", 1.0)
    cb.on_skip("d")
    cb.on_cancel("e")
    bar.close()
    assert (bar.done, bar.failed, bar.skipped, bar.running) == (5, 2, 1, 0)
    last = final_lines(screen.getvalue())[-1]
    assert "5/5" in last and "running=0, failed=2, skipped=1" in last


def test_progress_bar_is_disabled_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    dag = DAG.builder().add_nodes(["a", "b"]).build()
    result = DAGExecutor(dag).execute({"a": lambda: 1, "b": lambda: 2}, progress=True)
    assert result.ok
    assert capsys.readouterr().err == ""


def test_progress_module_doctests() -> None:
    import dagron.progress

    assert doctest.testmod(dagron.progress).failed == 0
