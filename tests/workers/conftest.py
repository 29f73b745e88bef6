"""Every test under tests/workers must leave no worker process and no shared-memory
segment directory behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dagron.workers.testing import segment_dirs, wait_for_no_segment_dirs, wait_for_no_workers


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    assert wait_for_no_workers() == [], "worker processes outlived the test"


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = segment_dirs()
    yield
    assert wait_for_no_segment_dirs(before) == set(), "segment directories outlived the test"
