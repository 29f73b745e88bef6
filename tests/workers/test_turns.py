"""Turns: one driver of a coordinator at a time, and a count of those waiting."""

from __future__ import annotations

import threading
import time

from dagron.workers.turns import Turns


def test_turns_second_taker_waits_until_given_back() -> None:
    turns = Turns()
    turns.take()
    taken = threading.Event()

    def second() -> None:
        turns.take()
        taken.set()
        turns.give_back()

    t = threading.Thread(target=second)
    t.start()
    deadline = time.monotonic() + 5
    while turns.waiting != 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert turns.waiting == 1 and not taken.is_set()
    turns.give_back()
    assert taken.wait(5)
    t.join(5)
    assert turns.waiting == 0 and not turns.lock.locked()
