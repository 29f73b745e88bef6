"""What tasks print and log on a worker, brought back to the caller's console.

On the worker, ``sys.stdout``/``sys.stderr`` become :class:`TaskStream` objects and the root
logger gets a :class:`ForwardingHandler`; both fill an :class:`OutputBuffer` that the worker
ships in OUTPUT messages, tagged with the task that was running. On the coordinator,
:func:`show_output` prints each line prefixed with the node's name, and :func:`show_log`
re-emits log records through the caller's own ``logging`` configuration.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Any, Optional

__all__ = ["ForwardingHandler", "OutputBuffer", "TaskStream", "show_log", "show_output"]

# One chunk: (task key or None, "stdout" | "stderr" | "log", payload). For "log" the payload is
# (level number, logger name, message text).
Chunk = tuple[Optional[int], str, Any]

MAX_PENDING = 1 << 20  # characters held before the oldest text is dropped with a note


class OutputBuffer:
    """Thread-safe list of output chunks waiting to be sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[Chunk] = []
        self._size = 0
        self._dropped = 0
        self.current_key: Optional[int] = None

    def add(self, stream: str, payload: Any) -> None:
        with self._lock:
            if self._size > MAX_PENDING:
                self._dropped += 1
                return
            self._chunks.append((self.current_key, stream, payload))
            self._size += len(payload) if isinstance(payload, str) else 64

    def take(self) -> list[Chunk]:
        if not self._chunks and not self._dropped:  # after every task: mostly nothing
            return []
        with self._lock:
            chunks, self._chunks, self._size = self._chunks, [], 0
            if self._dropped:
                note = f"[dagron: {self._dropped} chunks of output dropped, too much at once]\n"
                chunks.append((None, "stderr", note))
                self._dropped = 0
            return chunks


class TaskStream(io.TextIOBase):
    """A text stream that forwards whole lines (and, on flush, the rest)."""

    def __init__(self, buffer: OutputBuffer, name: str) -> None:
        self._buffer = buffer
        self._name = name
        self._partial = ""
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"<dagron {self._name}>"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            text = self._partial + text
            cut = text.rfind("\n") + 1
            self._partial = text[cut:]
            if cut:
                self._buffer.add(self._name, text[:cut])
        return len(text)

    def flush(self) -> None:
        if not self._partial:  # after every task: mostly nothing was printed
            return
        with self._lock:
            if self._partial:
                self._buffer.add(self._name, self._partial)
                self._partial = ""


class ForwardingHandler(logging.Handler):
    """Sends log records (level, logger name, formatted message) to the coordinator."""

    def __init__(self, buffer: OutputBuffer) -> None:
        super().__init__()
        self._buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self._buffer.add("log", (record.levelno, record.name, text))
        except Exception:
            self.handleError(record)


def show_output(prefix: str, stream: str, text: str) -> None:
    """Prints ``text`` on our stdout or stderr, each line prefixed with ``[prefix]``."""
    out = sys.stderr if stream == "stderr" else sys.stdout
    lines = text.splitlines(keepends=True)
    out.write("".join(f"[{prefix}] {line}" for line in lines))
    if lines and not lines[-1].endswith("\n"):
        out.write("\n")
    out.flush()


def show_log(prefix: str, level: int, name: str, message: str) -> None:
    """Re-emits a worker's log record through this process's logging configuration."""
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        logger.handle(
            logger.makeRecord(name, level, "(worker)", 0, f"[{prefix}] {message}", (), None)
        )
