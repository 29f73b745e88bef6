"""Checking a run's input and resolving its options, shared by the sync and async executors."""

from __future__ import annotations

import inspect
import os
from functools import partial
from inspect import CO_COROUTINE
from types import FunctionType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

from . import _clock
from ._core import DAG
from ._run import RetryDelay, RunState, per_node
from .callbacks import ExecutionCallbacks, merge
from .errors import MissingTaskError, TaskNotCallableError, UnknownTaskError

if TYPE_CHECKING:
    from .tracing import Recorder

Tasks = Mapping[str, Callable[..., Any]]
PerNode = Union[float, int, None, Mapping[str, Any]]

# Task objects (``@task``) carry their own options as ``(timeout, retries)`` here.
OPTIONS_ATTR = "_dagron_options"
ASYNC_ATTR = "_dagron_is_async"


def check_common(max_workers: int | None, retries: PerNode, retry_delay: RetryDelay) -> int:
    """Validate executor options shared by both executors; returns the worker count."""
    if max_workers is None:
        max_workers = os.cpu_count() or 1
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be a positive int or None, not {max_workers!r}")
    values = retries.values() if isinstance(retries, Mapping) else [retries]
    for r in values:
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 0):
            raise ValueError(f"retries must be a non-negative int, not {r!r}")
    if not callable(retry_delay) and (not isinstance(retry_delay, (int, float)) or retry_delay < 0):
        raise ValueError(f"retry_delay must be seconds >= 0 or a callable, not {retry_delay!r}")
    return max_workers


def is_async_callable(fn: Any) -> bool:
    """A coroutine function, an object whose ``__call__`` is one, or a dagron Task of one;
    a ``functools.partial`` of any of them too."""
    kind = type(fn)
    # The common cases first, without inspect's unwrapping (a fresh function or partial per
    # node makes this a per-node cost): a plain function without attributes (markers such
    # as inspect.markcoroutinefunction's live in its __dict__), a partial without any.
    if kind is FunctionType and not fn.__dict__:
        return bool(fn.__code__.co_flags & CO_COROUTINE)
    if kind is partial and not fn.__dict__:
        return is_async_callable(fn.func)
    flag = getattr(fn, ASYNC_ATTR, None)
    if flag is not None:
        return bool(flag)
    # A callable object whose __call__ is a coroutine function counts too.
    call = kind.__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


class RunCoroutine:
    """Runs an async task to completion on the worker thread that calls it (sync executor)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        import asyncio  # only runs with coroutine tasks: plain runs do not pay its import

        return asyncio.run(self.fn(*args))


def plan(
    dag: DAG,
    tasks: Tasks,
    *,
    fail_fast: bool,
    timeout: PerNode,
    retries: PerNode,
    retry_delay: RetryDelay,
    callbacks: ExecutionCallbacks | None,
    enable_tracing: bool,
    pass_results: bool,
    run_async_inline: bool,
) -> tuple[RunState, list[bool]]:
    """Check ``tasks`` against ``dag`` and build the run's state.

    Returns the state and, per node, whether its task is async. With ``run_async_inline``
    false (the sync executor) async tasks are wrapped to run on their worker thread.
    Raises before anything runs: :class:`MissingTaskError`, :class:`UnknownTaskError`,
    :class:`TaskNotCallableError`.
    """
    if not isinstance(tasks, Mapping):
        raise TypeError(f"tasks must be a mapping of node name to callable, not {type(tasks)}")
    names = dag.node_names()
    missing = [name for name in names if name not in tasks]
    if len(tasks) != len(names) - len(missing):
        known = set(names)
        unknown = [key for key in tasks if key not in known]
    else:
        unknown = []
    if missing:
        hint = f" (tasks were given for unknown nodes {unknown!r})" if unknown else ""
        raise MissingTaskError(missing, f"no task for node(s) {_names(missing)}{hint}")
    if unknown:
        raise UnknownTaskError(unknown)
    calls = [tasks[name] for name in names]
    # Many nodes usually share a few functions: look at each function once.
    unique = {id(fn): fn for fn in calls}
    if not all(map(callable, unique.values())):
        raise TaskNotCallableError([name for name, fn in zip(names, calls) if not callable(fn)])
    async_ids = {key for key, fn in unique.items() if is_async_callable(fn)}
    asyncs = [id(fn) in async_ids for fn in calls] if async_ids else [False] * len(calls)
    # Options are read before async tasks are wrapped: the wrapper does not carry them.
    if any(getattr(fn, OPTIONS_ATTR, None) for fn in unique.values()):
        own = [getattr(fn, OPTIONS_ATTR, None) for fn in calls]
        own_timeouts = [o[0] if o else None for o in own]
        own_retries = [o[1] if o else None for o in own]
    else:  # no @task options: two passes over the nodes saved
        own_timeouts = own_retries = [None] * len(calls)
    if async_ids and not run_async_inline:
        calls = [RunCoroutine(fn) if a else fn for fn, a in zip(calls, asyncs)]
    timeouts = per_node(timeout, names, own_timeouts, None)
    if timeouts is not None:
        for name, t in zip(names, timeouts):
            if t is not None and (not isinstance(t, (int, float)) or t <= 0):
                raise ValueError(f"timeout of {name!r} must be seconds > 0, not {t!r}")
    _clock.anchor()  # the run's timeline: the wall clock now, advanced by the monotonic one
    recorder: Recorder | None = None
    if enable_tracing:
        from .tracing import Recorder  # only for traced runs: it brings the trace formats

        recorder = Recorder()
        callbacks = merge(recorder.callbacks(), callbacks)
    state = RunState(
        dag,
        names,
        calls,
        fail_fast=fail_fast,
        timeouts=timeouts,
        retries=per_node(retries, names, own_retries, 0),
        retry_delay=retry_delay,
        callbacks=callbacks,
        pass_results=pass_results,
        trace=recorder,
    )
    return state, asyncs


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def plan_run(
    executor: Any,
    tasks: Any,
    timeout: Any,
    pass_results: bool,
    bar: Any,
    *,
    run_async_inline: bool,
) -> tuple[RunState, list[bool]]:
    """:func:`plan` with an executor's own settings (``DAGExecutor`` and ``AsyncDAGExecutor``
    share them): ``timeout`` replaces the executor's when given, and a progress ``bar``'s
    callbacks run before the user's."""
    callbacks = executor.callbacks if bar is None else merge(bar.callbacks(), executor.callbacks)
    return plan(
        executor.dag,
        tasks,
        fail_fast=executor.fail_fast,
        timeout=executor.timeout if timeout is None else timeout,
        retries=executor.retries,
        retry_delay=executor.retry_delay,
        callbacks=callbacks,
        enable_tracing=executor.enable_tracing,
        pass_results=pass_results,
        run_async_inline=run_async_inline,
    )
