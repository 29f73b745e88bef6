"""Helpers shared by the benchmark scripts in ``bench/``: timing, the machine line, and an
upstream dagron 0.1.1 from PyPI in its own virtualenv (it needs Python >= 3.12, which this
checkout's interpreter may not be)."""

from __future__ import annotations

import gc
import glob
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

UPSTREAM = "dagron==0.1.1"
UPSTREAM_VENV = Path.home() / ".cache" / "dagron-bench" / "upstream-dagron-0.1.1"


def best(run: Callable[[], None], repeat: int) -> float:
    """Best wall time of ``repeat`` runs, the garbage collector paused during each (as
    ``timeit`` does)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def machine_line() -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, {platform.python_implementation()} {platform.python_version()}"
    )


def find_python312() -> tuple[Optional[str], str]:
    """A Python >= 3.12 interpreter, or None and why not."""
    candidates = [shutil.which(f"python3.{m}") for m in (14, 13, 12)]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.1[2-9]*/bin/python3"), reverse=True)
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.strip() == "True":
            return exe, ""
    return None, (
        "upstream dagron 0.1.1 requires Python >= 3.12 and none was found "
        "(looked for python3.12+ on PATH and under $PYENV_ROOT/versions)"
    )


def upstream_python(extra: tuple[str, ...] = ()) -> tuple[Optional[str], str]:
    """The interpreter of a virtualenv holding upstream dagron 0.1.1 (installed on first use)
    and the packages ``extra`` (installed when missing; a failure there is not fatal: the
    caller checks for what it needs). Returns None and why when there is none."""
    venv_py = UPSTREAM_VENV / "bin" / "python"
    if not venv_py.exists():
        exe, why = find_python312()
        if exe is None:
            return None, why
        print(f"# installing {UPSTREAM} into {UPSTREAM_VENV} (with {exe})", flush=True)
        try:
            subprocess.run([exe, "-m", "venv", str(UPSTREAM_VENV)], check=True, timeout=300)
            subprocess.run(
                [str(venv_py), "-m", "pip", "install", "--quiet", UPSTREAM],
                check=True,
                timeout=600,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(UPSTREAM_VENV, ignore_errors=True)
            return None, f"could not install {UPSTREAM}: {exc}"
    for package in extra:
        probe = subprocess.run(
            [str(venv_py), "-c", f"import {package}"], capture_output=True, timeout=120
        )
        if probe.returncode != 0:
            print(f"# installing {package} into {UPSTREAM_VENV}", flush=True)
            try:
                subprocess.run(
                    [str(venv_py), "-m", "pip", "install", "--quiet", package],
                    check=False,
                    timeout=600,
                )
            except (OSError, subprocess.SubprocessError):
                pass
    return str(venv_py), ""
