"""The worker's watchdogs, driven with plain numbers: no sockets, no sleeps."""

from __future__ import annotations

import os

import psutil

from dagron.workers import control_codec as cc
from dagron.workers import protocol as p
from dagron.workers.output import OutputBuffer
from dagron.workers.watchdog import (
    FORWARD_EVERY,
    STALL_SLACK,
    DeathWatch,
    MemoryWatch,
    OutputForwarder,
    heartbeat_tick,
)


def test_heartbeat_tick_is_the_period_unless_output_is_forwarded() -> None:
    assert heartbeat_tick(1.0, forwarding=False) == 1.0
    assert heartbeat_tick(1.0, forwarding=True) == FORWARD_EVERY
    assert heartbeat_tick(0.01, forwarding=True) == 0.01


def test_death_watch_expires_only_after_more_than_the_timeout() -> None:
    death = DeathWatch(5.0, now=100.0, tick=1.0)
    for t in (101.0, 102.0, 103.0, 104.0):
        assert not death.expired(t)
    assert not death.expired(105.0)  # exactly the timeout is not yet too long
    assert death.expired(105.1)


def test_death_watch_an_answer_restarts_the_silence() -> None:
    death = DeathWatch(5.0, now=100.0, tick=5.0)
    death.heard(104.0)
    assert not death.expired(108.0)
    assert death.expired(109.5)


def test_death_watch_does_not_count_the_time_its_caller_could_not_listen() -> None:
    death = DeathWatch(5.0, now=100.0, tick=1.0)
    assert not death.expired(101.0)
    # Its thread did not run for 8 s (a task held the GIL): one tick of that is silence.
    assert not death.expired(109.0)
    for t in (110.0, 111.0, 112.0):
        assert not death.expired(t)
    assert death.expired(113.5)  # 5 s of silence it could hear, then it gives up


def test_death_watch_a_late_look_within_the_slack_is_still_silence() -> None:
    death = DeathWatch(5.0, now=100.0, tick=1.0)
    for t in (101.0 + STALL_SLACK, 102.0 + 2 * STALL_SLACK, 103.5 + 2 * STALL_SLACK):
        assert not death.expired(t)
    assert death.expired(105.1 + 2 * STALL_SLACK)


def test_death_watch_without_timeout_never_expires() -> None:
    death = DeathWatch(None, now=0.0, tick=1.0)
    assert not death.expired(1e9)


def test_memory_watch_reports_the_reading_once_over_the_limit() -> None:
    readings = iter([100, 200, 201])
    memory = MemoryWatch(200, rss=lambda: next(readings))
    assert memory.over() is None
    assert memory.over() is None  # at the limit is not over it
    assert memory.over() == 201


def test_memory_watch_without_limit_reads_nothing() -> None:
    reads: list[int] = []

    def rss() -> int:
        reads.append(1)
        return 1 << 40

    memory = MemoryWatch(None, rss=rss)
    assert memory.over() is None
    assert reads == []


def test_memory_watch_reads_this_process_by_default() -> None:
    own = psutil.Process(os.getpid()).memory_info().rss
    assert MemoryWatch(own // 2).over() is not None
    assert MemoryWatch(1 << 50).over() is None


def test_output_forwarder_packs_chunks_into_one_output_message() -> None:
    buf = OutputBuffer()
    buf.current_key = 3
    buf.add("stdout", "hello\n")
    buf.add("stderr", "oops\n")
    message = OutputForwarder(buf, b"w1").message()
    assert message is not None
    kind, header = message
    assert kind == p.OUTPUT
    assert cc.decode_output(header) == (b"w1", ((3, "stdout", "hello\n"), (3, "stderr", "oops\n")))


def test_output_forwarder_empties_the_buffer_and_sends_nothing_when_quiet() -> None:
    buf = OutputBuffer()
    forwarder = OutputForwarder(buf, b"w1")
    assert forwarder.message() is None
    buf.add("stdout", "once\n")
    assert forwarder.message() is not None
    assert forwarder.message() is None
