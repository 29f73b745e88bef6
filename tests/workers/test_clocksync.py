"""The clock offset estimator, fed synthetic exchanges with known offsets and delays."""

from __future__ import annotations

import doctest
import random

import pytest

from dagron._clock import ClockOffset
from dagron.workers import clocksync
from dagron.workers.clocksync import OffsetBook, OffsetEstimator


def exchange(sync: OffsetEstimator, at: float, offset: float, there: float, back: float) -> None:
    """One ping sent at coordinator time ``at`` by a worker whose clock runs ``offset`` ahead,
    taking ``there`` seconds to reach the coordinator and ``back`` seconds to return."""
    remote = at + there
    sync.add(sent=at + offset, remote=remote, received=remote + back + offset)


def test_clocksync_symmetric_delays_give_the_offset_exactly() -> None:
    sync = OffsetEstimator()
    assert sync.estimate is None and sync.correction == 0.0
    exchange(sync, at=100.0, offset=37.0, there=0.002, back=0.002)
    assert sync.estimate is not None
    assert sync.estimate.offset == pytest.approx(37.0)
    assert sync.estimate.error == pytest.approx(0.002)
    assert sync.correction == pytest.approx(37.0)
    assert sync.reported == sync.estimate


def test_clocksync_asymmetric_delays_stay_within_the_error_bound() -> None:
    rng = random.Random(6)
    for _ in range(200):
        sync = OffsetEstimator()
        offset = rng.uniform(-50.0, 50.0)
        exchange(sync, rng.uniform(0, 1e4), offset, rng.expovariate(1e3), rng.expovariate(1e2))
        est = sync.estimate
        assert est is not None
        assert abs(est.offset - offset) <= est.error + 1e-9


def test_clocksync_keeps_the_sample_with_the_shortest_round_trip() -> None:
    sync = OffsetEstimator()
    exchange(sync, 0.0, -3.0, there=0.050, back=0.001)  # waited in a queue on the way
    exchange(sync, 1.0, -3.0, there=0.0001, back=0.0001)  # the fastest: kept
    exchange(sync, 2.0, -3.0, there=0.001, back=0.030)  # a GIL switch on the way back
    est = sync.estimate
    assert est is not None and len(sync) == 3
    assert est.error == pytest.approx(0.0001)
    assert est.offset == pytest.approx(-3.0)


def test_clocksync_follows_drift_as_old_samples_leave_the_window() -> None:
    # The worker's clock gains 1 ms per exchange; an early fast sample must not pin the
    # estimate once it is older than the window.
    sync = OffsetEstimator(window=4)
    exchange(sync, 0.0, 5.0, there=0.00001, back=0.00001)
    for n in range(1, 10):
        exchange(sync, float(n), 5.0 + n * 0.001, there=0.0005, back=0.0005)
    est = sync.estimate
    assert est is not None
    assert 5.006 - 1e-9 <= est.offset <= 5.009 + 1e-9  # one of the last four
    assert est.error == pytest.approx(0.0005)


def test_clocksync_impossible_answers_are_ignored() -> None:
    sync = OffsetEstimator()
    sync.add(sent=10.0, remote=1.0, received=9.0)  # came back before it was sent
    assert sync.estimate is None and len(sync) == 0


def test_clocksync_an_offset_within_its_error_of_zero_is_not_corrected() -> None:
    # Same clock (a worker on the coordinator's machine): the measured offset is noise.
    sync = OffsetEstimator()
    exchange(sync, 5.0, 0.0, there=0.00003, back=0.00001)
    est = sync.estimate
    assert est is not None and est.offset != 0.0 and abs(est.offset) <= est.error
    assert sync.correction == 0.0
    # What is reported bounds the uncorrected stamps too: the true offset could be this far.
    assert sync.reported == est._replace(error=abs(est.offset) + est.error)


def test_clocksync_window_must_hold_a_sample() -> None:
    with pytest.raises(ValueError):
        OffsetEstimator(window=0)


def test_clocksync_module_doctests() -> None:
    assert doctest.testmod(clocksync).failed == 0


def test_offset_book_keeps_the_latest_offset_per_worker_and_stays_bounded() -> None:
    book = OffsetBook(bound=4)
    book.note("a", (1.0, 0.1))
    book.note("b", None)  # not measured yet: nothing recorded
    book.note("a", (2.0, 0.2))
    assert book.snapshot() == {"a": ClockOffset(2.0, 0.2)}
    for name in "bcde":
        book.note(name, (0.0, 0.0))
    assert list(book.snapshot()) == ["c", "d", "e"]  # over the bound: the oldest half went
    book.snapshot().clear()  # a copy: the book keeps its own
    assert len(book.snapshot()) == 3
