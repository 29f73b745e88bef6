"""Fail-fast on a backend that queues calls ahead of its workers: taking back the calls that
have not begun, so they never run."""

from __future__ import annotations

from typing import Callable


def recall_queued(
    current: list[int],
    begun: list[bool] | None,
    withdraw: Callable[[int], bool] | None,
    to_cancel: list[int],
) -> list[int]:
    """The nodes whose call in flight (``current[i]``, the key, -1 when none) is taken back:
    those not ``begun`` (None: not known, every call is asked about) that ``withdraw(key)``
    takes back, or without ``withdraw`` all of them, their keys then added to ``to_cancel``
    for the driver to cancel on its backend."""
    out: list[int] = []
    for i, key in enumerate(current):
        if key < 0 or (begun is not None and begun[i]):
            continue
        if withdraw is None:
            to_cancel.append(key)
        elif not withdraw(key):
            continue  # it began; its started notice is on the way: let it finish
        out.append(i)
    return out
