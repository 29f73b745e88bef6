"""The deployment guide's commands: the rehearsal runs, every dagron-worker line parses."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dagron.workers import cli

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def sh_blocks() -> list[str]:
    return SH_BLOCK.findall(GUIDE.read_text())


def test_docs_deployment_rehearsal_runs(tmp_path: Path) -> None:
    rehearsal = sh_blocks()[-1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-c", rehearsal],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("rehearsal ok")
    assert "2" in done.stderr.split()  # the coordinator's result.succeeded


def test_docs_deployment_worker_commands_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = []
    for block in sh_blocks():
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if "dagron-worker " in line:
                words = shlex.split(line.split("dagron-worker ", 1)[1].split("'")[0].split(">")[0])
                commands.append(words)
    assert len(commands) >= 4
    seen = []

    class FakeNanny:
        def __init__(self, address: str, nprocs: int, **options: object) -> None:
            seen.append((address, nprocs, options))

        def run(self) -> int:
            return 0

    monkeypatch.setattr("dagron.workers.nanny.WorkerNanny", FakeNanny)
    monkeypatch.setattr("dagron.workers.security.load_worker_keys", lambda directory: None)
    for words in commands:
        words = [
            w.replace('"$SLURM_CPUS_PER_TASK"', "32").replace("$SLURM_CPUS_PER_TASK", "32")
            for w in words
        ]
        words = [
            re.sub(r"\$\(.*\)|\$\w+|\"", "x", w) if w.startswith("$") or "$(" in w else w
            for w in words
        ]
        assert cli.worker_main(words) == 0
    assert len(seen) == len(commands)
    assert all(options["keys"] for _, _, options in seen)
