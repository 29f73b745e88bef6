"""Heartbeats with a hand-driven clock."""

from __future__ import annotations

import pytest

from dagron.workers.heartbeat import Heartbeats


def test_heartbeat_silent_peer_expires_once() -> None:
    hb: Heartbeats[str] = Heartbeats(period=1.0, timeout=5.0)
    hb.add("a", now=0.0)
    hb.add("b", now=0.0)
    assert hb.seen("a", now=4.0)
    assert hb.expired(now=5.5) == ["b"]
    assert hb.expired(now=5.6) == []
    assert hb.expired(now=9.5) == ["a"]
    assert len(hb) == 0


def test_heartbeat_late_news_of_a_lost_peer_is_ignored() -> None:
    hb: Heartbeats[str] = Heartbeats(period=1.0, timeout=2.0)
    hb.add("a", now=0.0)
    assert hb.expired(now=3.0) == ["a"]
    assert hb.seen("a", now=3.1) is False
    assert "a" not in hb


def test_heartbeat_out_of_order_beats_do_not_move_time_back() -> None:
    hb: Heartbeats[str] = Heartbeats(period=1.0, timeout=2.0)
    hb.add("a", now=0.0)
    hb.seen("a", now=1.9)
    hb.seen("a", now=0.5)  # a duplicate arriving late
    assert hb.expired(now=3.0) == []


def test_heartbeat_pings_once_per_period_and_deadline() -> None:
    hb: Heartbeats[str] = Heartbeats(period=1.0, timeout=3.0)
    assert hb.ping_due(now=0.0)
    assert not hb.ping_due(now=0.5)
    assert hb.ping_due(now=1.0)
    hb.add("a", now=1.0)
    assert hb.next_deadline(now=1.2) == pytest.approx(0.8)


def test_heartbeat_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        Heartbeats(period=2.0, timeout=1.0)
