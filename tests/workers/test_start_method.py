"""Choosing how local workers start."""

from __future__ import annotations

import pytest

from dagron.workers import start_method as sm


def test_start_method_defaults_to_the_fork_server_where_supported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGRON_START_METHOD", raising=False)
    expected = "forkserver" if sm.forkserver_supported() else "spawn"
    assert sm.resolve(None) == sm.default_start_method() == expected


def test_start_method_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGRON_START_METHOD", "spawn")
    assert sm.resolve(None) == "spawn"
    assert sm.resolve("forkserver" if sm.forkserver_supported() else "spawn")


def test_start_method_refuses_an_unknown_one() -> None:
    with pytest.raises(ValueError, match="expected one of 'forkserver', 'spawn'"):
        sm.resolve("fork")
