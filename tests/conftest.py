"""Fixtures shared by test modules."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event stuck tasks wait on; set at teardown so no thread outlives its test."""
    ev = threading.Event()
    yield ev
    ev.set()
