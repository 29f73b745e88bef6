"""Workers die with the process that started them, not with the thread that did."""

from __future__ import annotations

import threading

import pytest

from dagron.workers.coordinator import Coordinator
from dagron.workers.testing import collect, wait_for_gone


@pytest.mark.timeout(60)
def test_popen_lasting_workers_started_by_a_thread_that_ended_live_on() -> None:
    started: list[Coordinator] = []

    def start() -> None:
        c = Coordinator(1)
        c.open()
        started.append(c)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    (c,) = started
    try:
        pid = c.workers[0]["pid"]
        # The kernel's parent-death signal follows the starting thread: it has ended.
        assert wait_for_gone([pid], timeout=1.0) == [pid], "the worker died with the thread"
        c.submit(1, abs, (-3,), "n")
        assert collect(c, {1})[1].value.load() == 3
        assert [w["pid"] for w in c.workers] == [pid]
    finally:
        c.close()
