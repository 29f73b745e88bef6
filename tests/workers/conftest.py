"""Every test under tests/workers must leave no worker process and no shared-memory
segment directory behind."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from dagron.workers.testing import segment_dirs, wait_for_no_segment_dirs, wait_for_no_workers


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    assert wait_for_no_workers() == [], "worker processes outlived the test"


@pytest.fixture
def hosts() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes a test starts as other hosts would (dagron-worker); stopped at the
    end if the cluster did not stop them."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = segment_dirs()
    yield
    assert wait_for_no_segment_dirs(before) == set(), "segment directories outlived the test"
