"""Execution callbacks: user hooks fired on the coordinating thread, isolated from the run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional

from .node_result import describe_error

__all__ = ["ExecutionCallbacks"]

logger = logging.getLogger("dagron")


@dataclass
class ExecutionCallbacks:
    """Hooks called as nodes move through a run.

    Every hook runs on the thread that called ``execute()`` (the event loop for the async
    executor), never on a worker, one at a time, in a deterministic order for a given sequence
    of completions:

    * ``on_start(name)`` when the node's call begins on a worker, once per attempt;
    * ``on_complete(name, value)`` after it returned ``value``;
    * ``on_failure(name, error)`` after its last attempt raised ``error``;
    * ``on_retry(name, attempt, error)`` when attempt ``attempt - 1`` failed (or timed out)
      and attempt ``attempt`` is scheduled;
    * ``on_timeout(name, timeout)`` after its last attempt ran over ``timeout`` seconds;
    * ``on_skip(name)`` for each node that will not run because a node it depends on failed
      (or, with ``fail_fast``, because the run stopped), right after that failure's hook, in
      graph insertion order;
    * ``on_cancel(name)`` for each node cancelled by ``cancel_event`` or Ctrl-C.

    An exception raised by a hook is logged on the ``"dagron"`` logger and otherwise ignored:
    it never changes any node's status.

    >>> seen = []
    >>> cb = ExecutionCallbacks(on_start=seen.append)
    """

    on_start: Optional[Callable[[str], Any]] = None
    on_complete: Optional[Callable[[str, Any], Any]] = None
    on_failure: Optional[Callable[[str, BaseException], Any]] = None
    on_skip: Optional[Callable[[str], Any]] = None
    on_retry: Optional[Callable[[str, int, BaseException], Any]] = None
    on_timeout: Optional[Callable[[str, float], Any]] = None
    on_cancel: Optional[Callable[[str], Any]] = None


HOOKS = tuple(f.name for f in fields(ExecutionCallbacks))


def fire(hook: Callable[..., Any], *args: Any) -> None:
    """Call one hook; log and swallow any ``Exception`` it raises.

    ``KeyboardInterrupt`` and ``SystemExit`` pass through: they mean "stop", not "bad hook".
    """
    try:
        hook(*args)
    except Exception:
        logger.exception(
            "dagron: callback %s(%s) raised; the node's status is unaffected",
            getattr(hook, "__qualname__", hook),
            ", ".join(map(_shown, args)),
        )


def _shown(arg: Any) -> str:
    """A hook's argument in the log line of its failure: never raises."""
    if isinstance(arg, BaseException):
        return describe_error(arg)  # an error's repr or str may raise
    if isinstance(arg, (str, int, float)) or arg is None:
        return repr(arg)
    return f"<{type(arg).__qualname__}>"  # a node's value: its repr may raise, or be huge


def _fan_out(hooks: list[Callable[..., Any]]) -> Callable[..., None]:
    def call_all(*args: Any) -> None:
        for hook in hooks:
            fire(hook, *args)

    return call_all


def merge(*sets: ExecutionCallbacks | None) -> ExecutionCallbacks | None:
    """One callback set calling each given set's hooks in turn (each one isolated)."""
    present = [s for s in sets if s is not None]
    if len(present) <= 1:
        return present[0] if present else None
    merged = ExecutionCallbacks()
    for hook_name in HOOKS:
        hooks = [getattr(s, hook_name) for s in present if getattr(s, hook_name) is not None]
        if hooks:
            setattr(merged, hook_name, hooks[0] if len(hooks) == 1 else _fan_out(hooks))
    return merged
