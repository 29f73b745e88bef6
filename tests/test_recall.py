"""recall_queued, fail-fast's taking back of queued calls, on plain lists."""

from __future__ import annotations

from dagron._recall import recall_queued


def test_recall_queued_without_withdraw_cancels_every_call_not_begun() -> None:
    to_cancel: list[int] = []
    current = [0, -1, 2, 3]  # node 1 has nothing in flight
    begun = [True, False, False, False]
    assert recall_queued(current, begun, None, to_cancel) == [2, 3]
    assert to_cancel == [2, 3]


def test_recall_queued_keeps_calls_withdraw_says_began() -> None:
    to_cancel: list[int] = []
    asked: list[int] = []

    def withdraw(key: int) -> bool:
        asked.append(key)
        return key != 1  # key 1 began after all

    assert recall_queued([0, 1, 2], None, withdraw, to_cancel) == [0, 2]
    assert asked == [0, 1, 2] and to_cancel == []
