"""The rows of a picture of a run: one :class:`Lane` per worker, split where its attempts
overlap, grouped by process or host (``Trace.lanes``, the timeline, the Chrome export)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, NamedTuple

from .node_result import Attempt, natural_key

__all__ = ["UNKNOWN_WORKER", "Lane", "pack_lanes", "split_worker"]

# Lane of attempts whose worker is not known (a thread abandoned at its timeout).
UNKNOWN_WORKER = "(worker unknown)"


class Lane(NamedTuple):
    """One row of a picture of the run: a worker (a thread or a worker process), split in
    sub-lanes only if it ran overlapping attempts (coroutines on one event loop)."""

    worker: str | None  # the NodeResult.worker string, None for unknown
    process: str  # the part naming the process or host, e.g. "host/1234" or "host"
    thread: str  # the part naming the thread or worker, e.g. "dagron-worker-0" or "w1"
    sub: int  # 0, or 1, 2, ... for the extra rows of overlapping attempts
    attempts: tuple[Attempt, ...]

    @property
    def label(self) -> str:
        """``host/pid/thread`` or ``host/wN`` (with ``#2`` ... for sub-lanes)."""
        base = self.worker if self.worker is not None else UNKNOWN_WORKER
        return base if self.sub == 0 else f"{base} #{self.sub + 1}"


def pack_lanes(attempts: Iterable[Attempt]) -> list[Lane]:
    """One lane per worker (plus sub-lanes where its attempts overlap), grouped by process
    or host, in natural order; attempts of unknown workers go last on one lane."""
    by_worker: dict[str | None, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_worker[a.worker].append(a)
    order = sorted(
        by_worker,
        key=lambda w: (
            w is None,
            natural_key(split_worker(w)[0]),
            natural_key(split_worker(w)[1]),
        ),
    )
    lanes: list[Lane] = []
    for worker in order:
        process, thread = split_worker(worker)
        rows: list[list[Attempt]] = []
        ends: list[float] = []
        for a in sorted(by_worker[worker], key=lambda a: (a.started_at, a.finished_at)):
            for k, end in enumerate(ends):
                if a.started_at >= end:
                    rows[k].append(a)
                    ends[k] = a.finished_at
                    break
            else:
                rows.append([a])
                ends.append(a.finished_at)
        for sub, row in enumerate(rows):
            lanes.append(Lane(worker, process, thread, sub, tuple(row)))
    return lanes


def split_worker(worker: str | None) -> tuple[str, str]:
    """(process, thread) parts of a worker name: ``host/pid/thread`` gives
    ``("host/pid", "thread")``, ``host/wN`` gives ``("host", "wN")``.

    >>> split_worker("h/1234/dagron-worker-0"), split_worker("h/w1"), split_worker(None)
    (('h/1234', 'dagron-worker-0'), ('h', 'w1'), ('', '(worker unknown)'))
    """
    if worker is None:
        return "", UNKNOWN_WORKER
    head, sep, tail = worker.rpartition("/")
    return (head, tail) if sep else ("", worker)
