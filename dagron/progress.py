"""A live progress bar for ``execute(..., progress=True)``, drawn by tqdm on stderr.

The bar counts finished nodes (any outcome) against the total and shows how many are running,
failed and skipped, with tqdm's rate and ETA. It is fed by the executor's callback hooks, on
the thread that called ``execute()``, so a run without it pays nothing. tqdm keeps quiet when
stderr is not a terminal (a log file, CI, a pipe).
"""

from __future__ import annotations

import sys
from typing import IO, Any

from .callbacks import ExecutionCallbacks

__all__ = ["ProgressBar"]


class ProgressBar:
    """tqdm bar over ``total`` nodes, driven by :meth:`callbacks`; :meth:`close` when done.

    ``file`` defaults to ``sys.stderr``; the bar is disabled when that is not a terminal.

    >>> bar = ProgressBar(2)  # not a terminal under doctest: stays quiet
    >>> cb = bar.callbacks()
    >>> cb.on_start("a"); cb.on_complete("a", 1); bar.close()
    >>> bar.done, bar.running
    (1, 0)
    """

    def __init__(self, total: int, *, desc: str = "dagron", file: IO[str] | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self._running: set[str] = set()
        # Imported here so that importing dagron does not import tqdm.
        from tqdm import tqdm  # type: ignore[import-untyped]

        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="node",
            file=file if file is not None else sys.stderr,
            disable=None,  # None: off unless the file is a terminal
            dynamic_ncols=True,
            leave=True,
        )

    @property
    def running(self) -> int:
        return len(self._running)

    def callbacks(self) -> ExecutionCallbacks:
        return ExecutionCallbacks(
            on_start=self._start,
            on_complete=self._complete,
            on_failure=self._fail,
            on_timeout=self._fail,
            on_retry=self._retry,
            on_skip=self._skip,
            on_cancel=self._cancel,
        )

    def close(self) -> None:
        self._show()
        self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- hooks ------------------------------------------------------------------------------

    def _start(self, name: str) -> None:
        self._running.add(name)
        self._show()
        self.bar.update(0)  # redraws if tqdm's refresh interval has passed

    def _complete(self, name: str, _value: Any) -> None:
        self._finished(name)

    def _fail(self, name: str, _detail: Any) -> None:
        self.failed += 1
        self._finished(name)

    def _retry(self, name: str, _attempt: int, _error: BaseException) -> None:
        self._running.discard(name)  # its next attempt starts it again

    def _skip(self, name: str) -> None:
        self.skipped += 1
        self._finished(name)

    def _cancel(self, name: str) -> None:
        self._finished(name)

    def _finished(self, name: str) -> None:
        self._running.discard(name)
        self.done += 1
        self._show()
        self.bar.update(1)

    def _show(self) -> None:
        text = f"running={len(self._running)}, failed={self.failed}"
        if self.skipped:
            text += f", skipped={self.skipped}"
        self.bar.set_postfix_str(text, refresh=False)
