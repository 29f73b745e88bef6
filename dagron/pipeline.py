"""``@task`` and ``Pipeline``: a DAG inferred from parameter names, with data passed along."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterable, Mapping, TypeVar, Union, overload

from ._core import DAG
from ._plan import ASYNC_ATTR, OPTIONS_ATTR, is_async_callable
from .errors import DuplicateNodeError, UnresolvedParameterError
from .executor import DAGExecutor
from .result import ExecutionResult

__all__ = ["Pipeline", "Task", "task"]

F = TypeVar("F", bound=Callable[..., Any])

_PASSED_KINDS = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


class Task:
    """A function marked with :func:`task`: its name, its parameters, and its own options.

    Calling a Task calls the function unchanged, so decorated functions stay usable (and
    testable) on their own.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a callable, not {fn!r}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name: str = name if name is not None else getattr(fn, "__name__", repr(fn))
        self.timeout = timeout
        self.retries = retries
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind in _PASSED_KINDS]
        self.parameters: list[str] = [p.name for p in params]
        self.positional_only = [p.name for p in params if p.kind is p.POSITIONAL_ONLY]
        self.optional = {p.name for p in params if p.default is not p.empty}
        setattr(self, OPTIONS_ATTR, (timeout, retries))
        setattr(self, ASYNC_ATTR, is_async_callable(fn))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<dagron task {self.name!r} ({', '.join(self.parameters)})>"


@overload
def task(fn: F) -> Task: ...


@overload
def task(
    fn: None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> Callable[[F], Task]: ...


def task(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> Union[Task, Callable[[Callable[..., Any]], Task]]:
    """Mark a function as a pipeline task. Each parameter named after another task of the
    pipeline is a dependency and receives that task's result.

    >>> @task
    ... def fetch():
    ...     return [1, 2, 3]
    >>> @task(name="total", timeout=5.0, retries=2)
    ... def add_up(fetch):
    ...     return sum(fetch)
    >>> Pipeline([fetch, add_up]).execute()["total"].result
    6
    """
    if fn is not None:
        return Task(fn, name=name, timeout=timeout, retries=retries)
    return lambda f: Task(f, name=name, timeout=timeout, retries=retries)


class _Bound:
    """A task called with its dependencies' results (the executor passes them as a dict)."""

    __slots__ = (ASYNC_ATTR, OPTIONS_ATTR, "keyword", "positional", "task")

    def __init__(self, t: Task, deps: list[str]) -> None:
        self.task = t
        self.positional = [p for p in t.positional_only if p in deps]
        self.keyword = [p for p in deps if p not in t.positional_only]
        setattr(self, OPTIONS_ATTR, getattr(t, OPTIONS_ATTR))
        setattr(self, ASYNC_ATTR, getattr(t, ASYNC_ATTR))

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        return self.task.fn(
            *[inputs[p] for p in self.positional], **{p: inputs[p] for p in self.keyword}
        )


class Pipeline:
    """Tasks wired into a DAG by their parameter names.

    ``.dag`` is the graph (one node per task, in the order given; an edge from each
    dependency); ``.execute(**options)`` runs it on :class:`DAGExecutor` (any of its options:
    ``max_workers``, ``backend``, ``timeout``, ``cancel_event``, ...) with each task receiving
    its dependencies' results; independent tasks run in parallel.

    A parameter that names no task must have a default (it is then left to it), else
    :class:`~dagron.errors.UnresolvedParameterError`; two tasks with one name raise
    :class:`~dagron.errors.DuplicateNodeError` and a dependency cycle
    :class:`~dagron.errors.CycleError`, all here at construction.
    """

    def __init__(
        self, tasks: Iterable[Union[Task, Callable[..., Any]]], name: str | None = None
    ) -> None:
        self.name = name
        self.tasks: dict[str, Task] = {}
        for t in tasks:
            t = t if isinstance(t, Task) else Task(t)
            if t.name in self.tasks:
                raise DuplicateNodeError(t.name, f"two pipeline tasks are named {t.name!r}")
            self.tasks[t.name] = t
        self.dependencies: dict[str, list[str]] = {}
        for t in self.tasks.values():
            deps = []
            for p in t.parameters:
                if p in self.tasks:
                    deps.append(p)
                elif p not in t.optional:
                    raise UnresolvedParameterError(t.name, p)
            self.dependencies[t.name] = deps
        builder = DAG.builder().add_nodes(list(self.tasks))
        builder.add_edges([(d, n) for n, deps in self.dependencies.items() for d in deps])
        self.dag: DAG = builder.build()
        self._calls = {n: _Bound(t, self.dependencies[n]) for n, t in self.tasks.items()}

    def execute(self, **options: Any) -> ExecutionResult:
        """Run the pipeline on :class:`DAGExecutor`; ``options`` are its constructor's plus
        ``cancel_event`` and ``progress``. Returns the :class:`ExecutionResult` keyed by task
        name."""
        cancel_event = options.pop("cancel_event", None)
        progress = options.pop("progress", False)
        executor = DAGExecutor(self.dag, **options)
        return executor.execute(
            self._calls, cancel_event=cancel_event, pass_results=True, progress=progress
        )

    async def execute_async(self, **options: Any) -> ExecutionResult:
        """Run the pipeline on :class:`AsyncDAGExecutor` (async tasks awaited on the running
        loop, plain ones on threads)."""
        # Awaited, so asyncio runs already; the async executor is imported only now, which
        # spares a plain `import dagron` asyncio's import.
        from .async_executor import AsyncDAGExecutor

        cancel_event = options.pop("cancel_event", None)
        progress = options.pop("progress", False)
        executor = AsyncDAGExecutor(self.dag, **options)
        return await executor.execute(
            self._calls, cancel_event=cancel_event, pass_results=True, progress=progress
        )

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<Pipeline{label}: {', '.join(self.tasks)}>"
