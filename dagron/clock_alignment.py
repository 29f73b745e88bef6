"""The last-resort alignment of a trace's clocks: for hosts whose clock offsets were not
measured during the run, infer one from the coordinator's scheduling events where a host's
stamps are causally impossible, and take it out of that host's attempts.

A completed attempt must have started after the coordinator sent it and finished before the
coordinator heard back; a host whose stamps break that has a clock running ahead or behind.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from ._clock import ClockOffset
from .node_result import Attempt, NodeStatus, TraceEvent

__all__ = ["align_attempts", "host_of", "infer_clock_offsets", "shift_attempt"]

# The outcome events of an attempt, in the order the coordinator records them.
_OUTCOMES = frozenset({"complete", "failure", "retry", "timeout"})

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def align_attempts(
    attempts: list[Attempt],
    events: Sequence[TraceEvent],
    t0: float,
    local_host: str,
    measured: Mapping[str, ClockOffset],
) -> tuple[list[Attempt], dict[str, ClockOffset]]:
    """``attempts`` with the inferred offsets of hosts whose workers are not in ``measured``
    taken out, and those offsets by host (empty, and ``attempts`` itself, when none shows)."""
    inferred = infer_clock_offsets(
        [a for a in attempts if a.worker not in measured], events, t0, local_host
    )
    if not inferred:
        return attempts, inferred
    shifted = [a if a.worker in measured else shift_attempt(a, inferred) for a in attempts]
    return shifted, inferred


def host_of(worker: str) -> str:
    """The host part of a worker name: ``host/...``, or an address ``tcp://host:port/...``
    (Dask workers).

    >>> host_of("h/w1"), host_of("tcp://10.0.0.2:8786/x")
    ('h', '10.0.0.2')
    """
    if "://" in worker:
        return urlsplit(worker).hostname or worker
    return worker.split("/", 1)[0]


def infer_clock_offsets(
    attempts: Sequence[Attempt], events: Sequence[TraceEvent], t0: float, local_host: str
) -> dict[str, ClockOffset]:
    """Per remote host, the offset of its clock from the coordinator's, when its stamps show
    one: a completed attempt must have started after the coordinator sent it and finished
    before the coordinator heard back. With ``d`` the send time and ``c`` the receipt time
    (coordinator clock), ``s`` and ``f`` the worker's stamps, the host's offset lies in
    ``[f - c, s - d]``; take the value nearest 0 (none when 0 fits). Its error is the width
    of that interval (or, if no single offset fits, half the gap)."""
    workers = {a.worker for a in attempts if a.worker is not None}
    remote = {h for h in map(host_of, workers) if h != local_host and h not in _LOOPBACK}
    if not remote:
        return {}
    sent: dict[str, list[float]] = defaultdict(list)
    heard: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        if ev.event == "start":
            sent[ev.node].append(t0 + ev.at)
        elif ev.event in _OUTCOMES:
            heard[ev.node].append(t0 + ev.at)
    bounds: dict[str, list[float]] = {}
    for a in attempts:
        if a.worker is None or a.status is not NodeStatus.COMPLETED:
            continue
        host = host_of(a.worker)
        if host == local_host or host in _LOOPBACK:
            continue
        k = a.attempt - 1
        d, c = sent.get(a.node, []), heard.get(a.node, [])
        if k >= len(d) or k >= len(c):
            continue
        lo_hi = bounds.setdefault(host, [-float("inf"), float("inf")])
        lo_hi[0] = max(lo_hi[0], a.finished_at - c[k])
        lo_hi[1] = min(lo_hi[1], a.started_at - d[k])
    offsets: dict[str, ClockOffset] = {}
    for host, (lo, hi) in bounds.items():
        if lo > hi:  # no single offset fits (a clock stepped mid-run): split the difference
            offsets[host] = ClockOffset((lo + hi) / 2, (lo - hi) / 2, measured=False)
        elif lo > 0:
            offsets[host] = ClockOffset(lo, hi - lo, measured=False)
        elif hi < 0:
            offsets[host] = ClockOffset(hi, hi - lo, measured=False)
    return offsets


def shift_attempt(a: Attempt, offsets: Mapping[str, ClockOffset]) -> Attempt:
    """``a`` with its host's offset (if ``offsets`` has one) taken out of its times."""
    if a.worker is None:
        return a
    found = offsets.get(host_of(a.worker))
    if found is None:
        return a
    delta = found.offset
    return a._replace(started_at=a.started_at - delta, finished_at=a.finished_at - delta)
