"""The registry of remote workers: joining, heartbeats, being written off and coming back."""

from __future__ import annotations

from typing import Callable, Optional

from dagron.workers.heartbeat import Heartbeats
from dagron.workers.remote import LostWorker, RemoteWorker, RemoteWorkers


def registry() -> RemoteWorkers:
    return RemoteWorkers(Heartbeats(period=1.0, timeout=5.0))


def test_join_records_the_worker_and_watches_its_heartbeats() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "host", 7), now=0.0)
    assert remotes.by_id == {b"a": RemoteWorker("wa", "host", 7)}
    assert b"a" in remotes.heartbeats


def test_expired_writes_off_a_silent_worker_with_a_reason() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.join(b"b", RemoteWorker("wb", "far", 8), now=0.0)
    assert remotes.heard_from(b"b", now=4.0) is False
    assert remotes.expired(now=6.0) == [
        LostWorker(b"a", "worker wa (pid 7 on far) sent no heartbeat for 5 s")
    ]
    assert list(remotes.by_id) == [b"b"] and b"a" not in remotes.heartbeats
    assert remotes.expired(now=6.5) == []


def test_heard_from_a_written_off_worker_asks_it_to_rejoin_once() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.expired(now=6.0)
    assert remotes.heard_from(b"a", now=7.0) is True
    assert remotes.heard_from(b"a", now=7.5) is False
    assert b"a" not in remotes.heartbeats  # late beats never revive it by themselves
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=8.0)  # its fresh hello
    assert remotes.heard_from(b"a", now=9.0) is False and b"a" in remotes.heartbeats


def test_heard_from_a_stranger_changes_nothing() -> None:
    remotes = registry()
    assert remotes.heard_from(b"x", now=1.0) is False
    assert remotes.by_id == {} and len(remotes.heartbeats) == 0


def test_forget_drops_a_worker_without_writing_it_off() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.forget(b"a")
    assert remotes.by_id == {} and b"a" not in remotes.heartbeats
    assert remotes.heard_from(b"a", now=1.0) is False  # not asked to rejoin
    assert remotes.expired(now=100.0) == []


def test_write_off_has_a_worker_still_there_asked_to_rejoin_once() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.write_off(b"a")
    assert remotes.by_id == {} and b"a" not in remotes.heartbeats
    assert remotes.heard_from(b"a", now=1.0) is True
    assert remotes.heard_from(b"a", now=2.0) is False
    remotes.write_off(b"stranger")  # not a remote worker (a local one): nothing to do
    assert remotes.heard_from(b"stranger", now=3.0) is False


def running(*idents: bytes) -> Callable[[bytes], Optional[int]]:
    return lambda ident: 1 if ident in idents else None


def test_vouched_busy_workers_running_a_task_count_as_heard_from() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.join(b"b", RemoteWorker("wb", "far", 8), now=0.0)
    both = running(b"a", b"b", b"x")
    assert remotes.vouched(b"n", (b"a", b"b", b"x"), (b"a", b"x"), 4.0, both) == []
    assert remotes.expired(now=6.0) == [  # alive, not busy: its nanny has nothing to do
        LostWorker(b"b", "worker wb (pid 8 on far) sent no heartbeat for 5 s")
    ]
    assert list(remotes.by_id) == [b"a"]
    remotes.vouched(b"n", (b"a", b"b"), (b"a", b"b"), 6.5, both)  # b was written off already
    assert list(remotes.by_id) == [b"a"] and b"b" not in remotes.heartbeats
    assert remotes.expired(now=9.0) == []


def test_vouched_busy_outside_a_task_is_not_kept_alive_and_is_killed_by_its_nanny() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.join(b"b", RemoteWorker("wb", "far", 8), now=0.0)
    remotes.vouched(b"n", (b"a", b"b"), (b"a",), 1.0, running())  # a spins, b waits
    remotes.vouched(b"n", (b"a", b"b"), (b"a",), 5.5, running())
    lost = remotes.expired(now=6.0)
    assert [(w.ident, w.nanny) for w in lost] == [(b"a", b"n"), (b"b", None)]


def test_kill_order_names_the_nanny_that_vouched_and_writes_the_worker_off() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    remotes.vouched(b"n", (b"a",), (), 1.0, running())
    remotes.vouched(b"m", (b"a",), (), 1.5, running())  # another peer claiming it
    assert remotes.kill_order(b"a", "task 3 abandoned") == b"n"
    assert remotes.by_id == {} and b"a" not in remotes.heartbeats
    assert remotes.kill_order(b"a", "again") is None  # not (any more) a remote worker
    assert remotes.vouched(b"n", (b"a",), (b"a",), 2.0, running(b"a")) == []


def test_kill_order_before_any_vouch_waits_for_the_nanny_to_be_known() -> None:
    remotes = registry()
    remotes.join(b"a", RemoteWorker("wa", "far", 7), now=0.0)
    assert remotes.kill_order(b"a", "task 3 abandoned") is None
    assert remotes.vouched(b"n", (b"a",), (), 1.0, running()) == [(b"a", "task 3 abandoned")]
    assert remotes.vouched(b"n", (b"a",), (), 2.0, running()) == []  # told once
    assert remotes.by_id == {}
