"""The run's timeline: the monotonic clock shown as wall-clock seconds."""

from __future__ import annotations

import doctest
import time

import pytest

from dagron import _clock


def test_clock_now_reads_as_wall_time_and_never_goes_back() -> None:
    _clock.anchor()
    before = time.time()
    readings = [_clock.now() for _ in range(1000)]
    after = time.time()
    assert readings == sorted(readings)
    # within the jitter of reading two clocks one after the other
    assert before - 0.01 <= readings[0] and readings[-1] <= after + 0.01


def test_clock_wall_places_monotonic_readings_on_the_timeline() -> None:
    mono = time.monotonic()
    assert _clock.wall(mono) == pytest.approx(_clock.now(), abs=0.01)
    assert _clock.wall(mono + 37.0) - _clock.wall(mono) == pytest.approx(37.0)


def test_clock_a_step_of_the_wall_clock_moves_only_the_next_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clock.anchor()
    first = _clock.now()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600.0)  # the system clock steps
    assert _clock.now() - first < 1.0  # the run in progress keeps its timeline
    _clock.anchor()  # the next run begins
    assert _clock.now() - first == pytest.approx(3600.0, abs=1.0)
    monkeypatch.undo()
    _clock.anchor()


def test_clock_module_doctests() -> None:
    assert doctest.testmod(_clock).failed == 0
