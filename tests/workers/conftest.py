"""Every test under tests/workers must leave no worker process and no shared-memory
segment directory behind, once the default pool (which keeps the workers of
``backend="processes"`` runs warm by design) is stopped."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from dagron.workers import shutdown_default_pool
from dagron.workers.testing import segment_dirs, wait_for_no_segment_dirs, wait_for_no_workers


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    shutdown_default_pool()
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
    shutdown_default_pool()
    assert wait_for_no_segment_dirs(before) == set(), "segment directories outlived the test"
