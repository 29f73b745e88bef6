"""The backend seam: what the executor's scheduling loop needs from a place that runs tasks.

The loop in ``DAGExecutor`` decides everything (what is ready, retries, timeouts, fail-fast,
callbacks). A backend only runs one node's call when told to and reports back. All methods
are called from the coordinating thread; ``wait`` is where that thread blocks.

Keys: the loop gives every attempt of every node a distinct ``int`` key and expects it back
in the completion. A completion for a key the loop has given up on (timed out, cancelled) is
ignored, so a backend never has to guarantee it will not report one.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Protocol, Sequence, runtime_checkable

__all__ = ["Backend", "Completion"]


class Completion(NamedTuple):
    """One report from a backend, as an 8-tuple (backends may send plain tuples: the loop
    unpacks by position, and building a NamedTuple costs more than a tuple on the hot path).

    ``ok`` is ``True`` when the call returned ``value``; ``False`` when it raised ``value``
    (an exception) with ``traceback`` as text; ``None`` for a *started* notice, which a backend
    that queues work ahead of the call (prefetch) sends when the call really begins, so the
    node's timeout counts from there (other fields but ``key``, ``started_at`` and ``worker``
    are then ignored). ``started_at``/``finished_at`` are wall-clock stamps on the run's
    timeline (:mod:`dagron._clock`; a backend with workers elsewhere moves their stamps onto
    it) and
    ``duration`` is ``time.perf_counter()`` seconds around the call, all taken where it ran.
    ``value`` may be a :class:`dagron.result.Deferred` that loads on first access.
    """

    key: int
    ok: Optional[bool]
    value: Any
    traceback: Optional[str]
    started_at: float
    finished_at: float
    duration: float
    worker: str


@runtime_checkable
class Backend(Protocol):
    """Runs single node calls for one run of the scheduling loop.

    Lifecycle: ``start(max_workers)`` once, then any number of ``submit`` / ``wait`` /
    ``cancel``, then ``shutdown(wait=...)`` exactly once (also after errors). The loop never
    has more than ``capacity`` submitted keys outstanding, not counting cancelled ones.
    """

    name: str
    #: How many submitted keys the backend wants outstanding, set by ``start`` and read by
    #: the loop again after every ``wait`` (a backend may adapt it to call durations). Equal
    #: to ``max_workers``: every submitted call starts at once. Larger (prefetch, so a
    #: worker's next call is already there when one finishes): the backend must send a
    #: started notice for each call, and say so from the start with ``capacity`` >
    #: ``max_workers`` or a true ``queues_ahead`` attribute; ``on_start`` and timeouts then
    #: count from the notice, and fail-fast cancels calls not yet begun.
    capacity: int

    def start(self, max_workers: int) -> None:
        """Get ready to run up to ``max_workers`` calls at once; set ``capacity``."""

    def submit(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str = ""
    ) -> None:
        """Run ``fn(*args)`` and report a :class:`Completion` for ``key``. Must not block.
        ``name`` is the node's, for messages."""

    def wait(self, timeout: float | None) -> Sequence[Completion]:
        """Block up to ``timeout`` seconds (``None``: until something arrives) and return every
        completion available, oldest first; an empty sequence on timeout."""

    def cancel(self, key: int) -> None:
        """Give up on ``key``: stop it if the backend can (the processes backend kills the
        worker), else leave it to finish unobserved, and keep ``max_workers`` capacity for
        other work. Its completion, if one still comes, will be ignored."""

    def shutdown(self, wait: bool) -> None:
        """Release workers. ``wait=False`` must return promptly even if calls are stuck."""


# Optional, for a backend that queues ahead (the threads backend has all three):
#
#     def withdraw(self, key: int) -> bool
#
# takes a queued call back if it has not begun, atomically with a worker beginning it: True
# means it will never run. Fail-fast uses it, and counts a call it cannot withdraw as running.
#
#     def resume(self) -> None
#
# A backend defining it begins no queued call after reporting a failure until the loop calls
# resume() with that failure handled (so fail-fast starts nothing new). The loop calls it
# after handling each batch that wait() returned.
#
#     def watch_cancel(self, event: threading.Event) -> None
#
# called with the run's cancel_event: the backend begins no queued call once it is set.
#
# A backend with withdraw() may also have a ``notify_starts`` attribute, True by default:
# the loop sets it to False before the first submit when the run needs no started notices
# (no timeouts, no on_start callback), and the backend then sends none.

# Optional, for speed: ``submit_many(items)`` submits each ``(key, fn, args)`` of a list, in
# order, as submit() would; the loop uses it for calls without arguments (no pass_results).

# Optional: a backend running calls in this process may also define
#
#     def run_inline(self, key: int, fn, args) -> Completion
#
# to run one call on the calling thread. The loop uses it only when that node is the one
# thing that can run (nothing in flight, nothing else ready, no retry waiting), has no
# timeout, and no cancel_event is in use, so no parallelism is lost and two thread switches
# per node are saved on chains. The processes backend must not define it.
#
# A backend whose workers have clocks of their own may also define
#
#     def clock_offsets(self) -> dict[str, ClockOffset]
#
# returning each worker's measured clock offset; a traced run records them in its trace.
