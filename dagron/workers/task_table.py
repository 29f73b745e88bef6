"""The coordinator's table of submitted tasks: their ids, their pickled functions and
arguments, and the executor's key of each task id a worker reports on.

The executor's keys restart with every run, while a cluster's workers outlive runs; tasks get
ids unique for the table's life, so a late report from an earlier run can never be taken for a
task of this one. Functions are kept in a :class:`~dagron.workers.function_store.FunctionStore`
and sent to each worker with its first task that needs them.

No sockets, no workers: :class:`TaskTable` is driven by plain calls.
"""

from __future__ import annotations

import itertools
import re
from functools import partial
from typing import Any, Callable, Iterable, Optional, Union

from .. import _clock
from ..backends.base import Completion, Failed
from ..errors import SerializationError
from ..node_result import error_message
from . import protocol as p
from . import shm
from .function_store import FunctionStore

__all__ = ["TaskTable", "culprit", "unpicklable_part"]

# How many finished tasks keep their node names (output can arrive after the result).
_FINISHED_KEPT = 4096

_CANNOT_PICKLE = re.compile(r"cannot pickle '([^']+)' object")


def culprit(exc: BaseException, obj: Any) -> str:
    """The type pickle choked on, from its message when it names one (an object captured
    deep inside a closure), else the type of the outermost piece that fails."""
    found = _CANNOT_PICKLE.search(error_message(exc))
    return found.group(1) if found else unpicklable_part(obj)


def unpicklable_part(obj: Any) -> str:
    """Names the type of the piece of ``obj`` that will not pickle (looks one level into
    tuples, lists and dicts, which is where task arguments live)."""
    parts: list[Any] = []
    if isinstance(obj, (tuple, list)):
        parts = list(obj)
    elif isinstance(obj, dict):
        parts = list(obj.values())
    for part in parts:
        try:
            p.dumps(part)
        except Exception:
            return unpicklable_part(part)
    return type(obj).__qualname__


class TaskTable:
    """What the coordinator knows of the tasks submitted to it.

    ``tasks`` maps a task id to its function id and its argument frames (or forwarded
    results' pickles) until the task is reported; ``functions`` holds the functions' pickles.
    The coordinator reads both when it sends tasks; they are never rebound.
    """

    def __init__(self) -> None:
        self._task_ids = itertools.count()
        self.tid_of: dict[int, int] = {}  # executor key -> task id
        self.key_of: dict[int, int] = {}  # task id -> executor key
        self.node_of: dict[int, str] = {}  # task id -> node name, for error messages
        # Names of recently finished tasks: output shipped on the heartbeat socket can
        # arrive after the result.
        self.finished_nodes: dict[int, str] = {}
        self.functions = FunctionStore()
        # task id -> (fn id, argument frames, or forwarded results' pickles)
        self.tasks: dict[int, tuple[int, Union[list[Any], p.ForwardedArgs]]] = {}
        # task id -> fn id, submitted since take_added(): tasks submitted together travel
        # together.
        self.added: dict[int, int] = {}
        # Executor keys cancelled since live() last looked.
        self.cancelled: set[int] = set()

    def add(
        self, key: int, fn: Callable[..., Any], args: tuple[Any, ...], name: str, by_name: bool
    ) -> Optional[Failed]:
        """Records ``fn(*args)`` under ``key``; with ``by_name``, shared-memory results among
        ``args`` travel by segment name. A callable or argument that cannot be pickled is
        returned as a :class:`Failed` report (under ``key``) rather than recorded."""
        tid = next(self._task_ids)
        own: tuple[Any, ...] = ()  # arguments that are the task's own, not the call's
        part: Any
        try:
            if type(fn) is partial and not fn.keywords:
                # partial(f, *a)(*args) is f(*a, *args): f is sent once per worker and a
                # travels as arguments, so fresh partials over one f (one per node) do not
                # pickle f by value again for every task.
                fn_id, own = self.function_id(fn.func), fn.args
            else:  # fresh closures of one shape: one template, their values as arguments
                fn_id, own = self.functions.call_of(fn)
            args = own + args
        except Exception as exc:
            return _failed(
                key, SerializationError(name, culprit(exc, fn), "task", error_message(exc))
            )
        forwarded = p.forwarded_args(args) if args else None
        if forwarded is not None:  # small results passed on: their pickles travel as they are
            self._record(key, tid, name, fn_id, forwarded)
            return None
        token = shm.forwarding.set(by_name)
        try:
            frames = p.dumps(args) if args else []
        except Exception as exc:
            what, part = "argument", args
            if own and _unpicklable(own):
                what, part = "task", fn  # the partial's or closure's values: the task's fault
            return _failed(
                key, SerializationError(name, culprit(exc, part), what, error_message(exc))
            )
        finally:
            shm.forwarding.reset(token)
        self._record(key, tid, name, fn_id, frames)
        return None

    def _record(
        self, key: int, tid: int, name: str, fn_id: int, args: Union[list[Any], p.ForwardedArgs]
    ) -> None:
        self.tid_of[key] = tid
        self.key_of[tid] = key
        self.node_of[tid] = name
        self.tasks[tid] = (fn_id, args)
        self.added[tid] = fn_id

    def function_id(self, fn: Callable[..., Any]) -> int:
        """The id of ``fn`` in :attr:`functions`, pickling it if this run has not yet."""
        return self.functions.id_of(fn)

    def release_functions(self) -> tuple[int, ...]:
        """Called between runs: see :meth:`FunctionStore.end_run`; tasks still recorded
        keep their functions. Returns the ids released, which workers may forget."""
        return self.functions.end_run(fn_id for fn_id, _ in self.tasks.values())

    def tasks_message(self, tids: tuple[int, ...], fn_ids: tuple[int, ...]) -> list[Any]:
        """The TASKS message carrying tasks ``tids`` and, first, the pickles of the
        functions ``fn_ids`` (in that order: the order a worker loads them in)."""
        tasks: list[tuple[int, int, Union[int, bytes, p.ForwardedArgs]]] = []
        frames = self.functions.frames
        body: list[Any] = [frames[fn_id] for fn_id in fn_ids]
        inline = p.INLINE_BYTES
        task_of = self.tasks
        for tid in tids:
            fn_id, args = task_of[tid]
            if type(args) is tuple:  # forwarded results' pickles (see add)
                tasks.append((tid, fn_id, args))
            elif len(args) == 1 and type(args[0]) is bytes and len(args[0]) <= inline:
                tasks.append((tid, fn_id, args[0]))
            else:
                tasks.append((tid, fn_id, len(args)))
                body.extend(args)
        return [p.TASKS, p.dump_header((fn_ids, tuple(tasks))), *body]

    def take_added(self) -> tuple[dict[int, int], dict[int, tuple[int, ...]]]:
        """The tasks added since the last call (task id -> function id), now handed on,
        and the functions' new :attr:`FunctionStore.loads` entries."""
        added, self.added = self.added, {}
        return added, self.functions.take_new_loads()

    def cancel(self, key: int) -> Optional[int]:
        """Forgets the task under ``key``; returns its task id if it had been handed on by
        :meth:`take_added` (whoever holds it must be told), else None."""
        tid = self.tid_of.pop(key, None)
        if tid is None:
            return None
        self.cancelled.add(key)
        self.key_of.pop(tid, None)
        self.node_of.pop(tid, None)
        self.tasks.pop(tid, None)
        return tid if self.added.pop(tid, None) is None else None

    def node_name(self, tid: int) -> Optional[str]:
        """The node name of a live or recently finished task, if known."""
        return self.node_of.get(tid) or self.finished_nodes.get(tid)

    def finish(self, tids: Iterable[int]) -> list[Optional[int]]:
        """Forgets the tasks ``tids``, reported for good (finished or lost), and returns
        their executor keys: None for one cancelled meanwhile, whose report is dropped. Their
        node names are kept a while: output shipped on the heartbeat socket can arrive after
        the result."""
        key_of, tid_of, node_of, finished, tasks = (
            self.key_of,
            self.tid_of,
            self.node_of,
            self.finished_nodes,
            self.tasks,
        )
        keys: list[Optional[int]] = []
        for tid in tids:
            key = key_of.pop(tid, None)
            keys.append(key)
            if key is not None:
                del tid_of[key]
                tasks.pop(tid, None)
                finished[tid] = node_of.pop(tid, "")
        if len(finished) > _FINISHED_KEPT:  # keep only the recent ones
            for old in list(finished)[: _FINISHED_KEPT // 2]:
                del finished[old]
        return keys

    def live(self, done: list[Completion]) -> list[Completion]:
        """``done`` (completions under executor keys) without those of tasks cancelled since
        the last call: a cancel can come between a report and the executor's next look."""
        cancelled = self.cancelled
        if not cancelled:
            return done.copy()
        out = [c for c in done if c[0] not in cancelled]
        cancelled.clear()
        return out


def _unpicklable(obj: Any) -> bool:
    try:
        p.dumps(obj)
    except Exception:
        return True
    return False


def _failed(key: int, exc: BaseException) -> Failed:
    now = _clock.now()
    return Failed(key, exc, None, now, now, 0.0, "coordinator")
