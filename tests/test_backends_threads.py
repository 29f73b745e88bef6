"""The threads backend on its own: submit, report, cancel, shut down."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from dagron.backends import (
    Backend,
    BackendSource,
    available_backends,
    create_backend,
    register_backend,
)
from dagron.backends.base import Failed, Started, Succeeded
from dagron.backends.threads import MAX_AHEAD, ThreadsBackend

WAIT = 10.0


@pytest.fixture
def backend() -> Iterator[ThreadsBackend]:
    b = ThreadsBackend()
    b.start(2)
    yield b
    b.shutdown(wait=False)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    ev = threading.Event()
    yield ev
    ev.set()


def collect(b: ThreadsBackend, count: int, started: bool = False) -> list[Any]:
    """The next ``count`` completions (``started``: the next ``count`` started notices)."""
    out: list[Any] = []
    while len(out) < count:
        got = b.wait(WAIT)
        assert got, "backend reported nothing"
        out.extend(r for r in got if isinstance(r, Started) is started)
    return out


def test_threads_backend_satisfies_the_backend_protocol() -> None:
    assert isinstance(ThreadsBackend(), Backend)
    assert "threads" in available_backends()
    assert isinstance(create_backend("threads"), ThreadsBackend)


def test_threads_backend_reports_value_and_times(backend: ThreadsBackend) -> None:
    backend.submit(3, divmod, (7, 2))
    (report,) = collect(backend, 1)
    assert isinstance(report, Succeeded)
    key, value, started, finished, took, worker = report
    assert (key, value) == (3, (3, 1))
    assert started <= finished and took >= 0 and "dagron-worker" in worker


def test_threads_backend_reports_exception_with_traceback_text(backend: ThreadsBackend) -> None:
    def bad() -> None:
        raise KeyError("missing")

    backend.submit(1, bad, ())
    ((_, value, tb, *_),) = collect(backend, 1)
    assert isinstance(value, KeyError)
    assert "in bad" in tb and "KeyError" in tb


def test_threads_backend_survives_system_exit_in_a_task(backend: ThreadsBackend) -> None:
    def leave() -> None:
        raise SystemExit(3)

    backend.submit(1, leave, ())
    backend.submit(2, int, ("5",))
    reports: dict[int, Any] = {}
    while len(reports) < 2:
        reports.update((r[0], r) for r in collect(backend, 1))
        backend.resume()  # as the loop does once it has seen a failure
    assert isinstance(reports[1], Failed) and isinstance(reports[1].error, SystemExit)
    assert reports[2].value == 5


def test_threads_backend_wait_times_out_empty(backend: ThreadsBackend) -> None:
    assert backend.wait(0.01) == []
    assert backend.wait(0) == []


def test_threads_backend_starts_threads_lazily() -> None:
    b = ThreadsBackend()
    b.start(8)
    try:
        for key in range(5):  # one at a time, like a chain
            b.submit(key, int, ())
            collect(b, 1)
        assert len(b._threads) == 1
    finally:
        b.shutdown(wait=True)


def test_threads_backend_runs_calls_in_parallel(backend: ThreadsBackend) -> None:
    barrier = threading.Barrier(2, timeout=WAIT)
    backend.submit(1, barrier.wait, ())
    backend.submit(2, barrier.wait, ())
    assert all(isinstance(r, Succeeded) for r in collect(backend, 2))


def test_threads_backend_cancel_replaces_a_stuck_thread(
    backend: ThreadsBackend, release: threading.Event
) -> None:
    finished = threading.Event()

    def stuck() -> None:
        release.wait(WAIT)
        finished.set()

    backend.submit(1, stuck, ())
    backend.submit(2, stuck, ())
    collect(backend, 2, started=True)  # both began: cancelling them abandons their threads
    backend.cancel(1)
    backend.cancel(2)
    backend.submit(3, int, ("1",))  # both threads are stuck, so this needs a new one
    assert [r[:2] for r in collect(backend, 1)] == [(3, 1)]
    release.set()
    assert finished.wait(WAIT)
    assert backend.wait(0.05) == []  # the abandoned calls never report


def test_threads_backend_cancel_before_start_never_runs(backend: ThreadsBackend) -> None:
    gate = threading.Event()
    ran: list[int] = []
    backend.submit(1, gate.wait, (WAIT,))
    backend.submit(2, gate.wait, (WAIT,))
    collect(backend, 2, started=True)  # both threads are busy...
    backend.submit(3, ran.append, (3,))  # ...so this one is queued
    backend.cancel(3)
    gate.set()
    collect(backend, 2)
    assert backend.wait(0.05) == []
    assert ran == []


def test_threads_backend_withdraw_decides_between_run_and_not(backend: ThreadsBackend) -> None:
    gate = threading.Event()
    backend.submit(1, gate.wait, (WAIT,))
    collect(backend, 1, started=True)
    assert backend.withdraw(1) is False  # began: it cannot be taken back
    backend.submit(2, gate.wait, (WAIT,))
    collect(backend, 1, started=True)
    backend.submit(3, int, ())
    assert backend.withdraw(3) is True  # both threads busy: 3 was queued, never runs
    assert backend.withdraw(3) is False  # and only once
    gate.set()
    assert sorted(r[0] for r in collect(backend, 2)) == [1, 2]
    assert backend.wait(0.05) == []


def test_threads_backend_holds_its_queue_after_a_failure_until_resumed() -> None:
    b = ThreadsBackend(queue_ahead=4)
    b.start(1)
    ran: list[int] = []
    try:
        b.submit(1, int, ("not a number",))
        b.submit(2, ran.append, (2,))
        (report,) = collect(b, 1)
        assert isinstance(report, Failed) and report.key == 1
        assert b.withdraw(2) is True  # the worker waited: the loop may still take it back
        b.submit(3, ran.append, (3,))
        b.resume()
        collect(b, 1)
        assert ran == [3]
    finally:
        b.shutdown(wait=True)


def test_threads_backend_begins_nothing_queued_once_cancelled() -> None:
    b = ThreadsBackend(queue_ahead=4)
    b.start(1)
    cancel = threading.Event()
    ran: list[int] = []
    b.watch_cancel(cancel)
    try:
        b.submit(1, cancel.set, ())  # the first call sets the run's cancel_event
        b.submit(2, ran.append, (2,))
        collect(b, 1)
        assert b.withdraw(2) is True and ran == []
    finally:
        b.shutdown(wait=True)


def test_threads_backend_queue_ahead_adapts_to_call_durations() -> None:
    b = ThreadsBackend()
    b.start(2)
    assert b.capacity == 2  # no duration known yet: no queue
    b._observe(1e-6)  # short calls: queue up to MAX_AHEAD per worker
    assert b.capacity == 2 * MAX_AHEAD
    b._observe(10.0)  # one slow call shrinks the queue at once
    assert b.capacity == 2
    assert ThreadsBackend(queue_ahead=3).capacity == 1
    with pytest.raises(ValueError, match="queue_ahead"):
        ThreadsBackend(queue_ahead=0)


def test_threads_backend_shutdown_does_not_wait_for_stuck_calls(release: threading.Event) -> None:
    b = ThreadsBackend()
    b.start(1)
    b.submit(1, release.wait, (WAIT,))
    b.cancel(1)
    b.shutdown(wait=False)  # returns at once although the call is blocked
    assert not release.is_set()


def test_threads_backend_threads_are_daemons(backend: ThreadsBackend) -> None:
    backend.submit(1, int, ())
    collect(backend, 1)
    assert all(t.daemon for t in backend._threads)


def test_register_backend_by_factory_and_by_path() -> None:
    register_backend("test-threads-factory", ThreadsBackend)
    register_backend("test-threads-path", "dagron.backends.threads:ThreadsBackend")
    assert isinstance(create_backend("test-threads-factory"), ThreadsBackend)
    assert isinstance(create_backend("test-threads-path"), ThreadsBackend)
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("nope")


def test_create_backend_from_a_backend_source() -> None:
    class Cluster(BackendSource):
        def backend(self) -> ThreadsBackend:
            return ThreadsBackend()

    assert isinstance(create_backend(Cluster()), ThreadsBackend)


def test_create_backend_refuses_an_object_that_only_looks_like_a_source() -> None:
    class LooksLikeACluster:
        def backend(self) -> ThreadsBackend:
            return ThreadsBackend()

    with pytest.raises(TypeError, match="BackendSource"):
        create_backend(LooksLikeACluster())


def test_threads_backend_sends_no_started_notices_when_told() -> None:
    b = ThreadsBackend()
    b.skip_started_notices()
    b.start(1)
    try:
        b.submit(1, int, ("4",))
        assert [(type(r), *r[:2]) for r in b.wait(WAIT)] == [(Succeeded, 1, 4)]
    finally:
        b.shutdown(wait=True)


def test_threads_backend_resume_keeps_holding_for_a_failure_not_yet_collected() -> None:
    # A failure reported after the loop's last wait() must stay held: the loop has not seen it.
    b = ThreadsBackend()
    b.start(1)
    b._go.clear()  # as a worker does once it has reported a failure
    b._outbox.put(Failed(1, ValueError("x"), "tb", 0.0, 0.0, 0.0, "w"))
    b.resume()
    assert not b._go.is_set()
    assert [(type(r), r.key) for r in b.wait(0)] == [(Failed, 1)]
    b.resume()
    assert b._go.is_set()


def test_threads_backend_replaces_an_abandoned_thread_for_queued_calls_on_wait(
    release: threading.Event,
) -> None:
    b = ThreadsBackend(queue_ahead=4)
    b.start(1)
    ran: list[int] = []
    try:
        b.submit(1, release.wait, (WAIT,))
        collect(b, 1, started=True)
        b.submit(2, ran.append, (2,))
        b.submit(3, ran.append, (3,))
        b.cancel(1)  # its thread is stuck; a cancelled run withdraws the rest next...
        b.cancel(3)
        assert len(b._threads) == 1  # ...so no thread was started that could take them
        assert [r[0] for r in collect(b, 1)] == [2]  # the loop waits: 2 gets a thread
        assert ran == [2] and len(b._threads) == 2
    finally:
        b.shutdown(wait=False)


def test_threads_backend_submit_many_runs_each_call_once() -> None:
    b = ThreadsBackend(queue_ahead=4)
    b.start(2)
    try:
        b.submit_many([(key, int, (str(key),)) for key in range(6)])
        assert sorted(r.value for r in collect(b, 6)) == list(range(6))
        assert len(b._threads) == 2 and b.wait(0.01) == []
    finally:
        b.shutdown(wait=True)
