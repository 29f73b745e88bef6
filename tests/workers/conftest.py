"""Every test under tests/workers must leave no worker process behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dagron.workers.testing import wait_for_no_workers


@pytest.fixture(autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    assert wait_for_no_workers() == [], "worker processes outlived the test"
