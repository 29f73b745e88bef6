"""The coordinator's task table, driven by plain calls: ids, function pickles, argument
frames, serialization errors and the executor keys of reported tasks."""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from dagron.backends.base import Completion, Failed, Started, Succeeded
from dagron.errors import SerializationError
from dagron.workers import function_codec
from dagron.workers import protocol as p
from dagron.workers.function_store import KEEP_FUNCTIONS_BYTES
from dagron.workers.task_table import TaskTable, culprit, unpicklable_part


def add(x: int, y: int) -> int:
    return x + y


def load(table: TaskTable, fn_id: int) -> Any:
    """Function ``fn_id`` as a worker loads it: what it refers to first."""
    store, loaded = table.functions, dict[int, Any]()
    for needed in store.loads.get(fn_id, (fn_id,)):
        loaded[needed] = function_codec.loads_function(store.frames[needed], loaded.__getitem__)
    return loaded[fn_id]


def task_functions(table: TaskTable) -> set[int]:
    """The function ids the table's tasks call."""
    return {fn_id for fn_id, _ in table.tasks.values()}


def succeeded(tid: int, value: object = None) -> Succeeded:
    return Succeeded(tid, value, 1.0, 2.0, 1.0, "w")


def test_add_gives_task_ids_unique_across_runs() -> None:
    table = TaskTable()
    table.add(0, add, (1, 2), "a", False)
    first = table.tid_of[0]
    assert table.finish([first]) == [0]
    table.add(0, add, (1, 2), "a", False)  # the next run's key 0
    assert table.tid_of[0] != first
    assert table.finish([first]) == [None]  # a late report of the earlier task
    assert table.tid_of[0] != first


def test_add_pickles_a_function_once_for_many_tasks() -> None:
    table = TaskTable()
    for key in range(100):
        assert table.add(key, add, (key, 1), f"n{key}", False) is None
    fn_ids = {table.tasks[table.tid_of[key]][0] for key in range(100)}
    assert len(fn_ids) == 1 and list(table.functions.frames) == list(fn_ids)
    assert load(table, fn_ids.pop())(2, 3) == 5


def test_add_pickles_a_partial_by_value_with_its_arguments() -> None:
    table = TaskTable()
    assert table.add(7, functools.partial(add, 40), (2,), "part", False) is None
    fn_id, frames = table.tasks[table.tid_of[7]]
    assert isinstance(frames, list)
    assert load(table, fn_id)(*p.loads(frames)) == 42


class Counted:
    """Counts its picklings: a function whose closure holds one counts its own."""

    pickled = 0

    def __reduce__(self) -> tuple[type, tuple[()]]:
        Counted.pickled += 1
        return (Counted, ())


def test_add_pickles_the_function_of_fresh_partials_once() -> None:
    mark = Counted()

    def f(i: int, j: int) -> int:  # by value, as a function of __main__ would be
        return i * 10 + j + 0 * id(mark)

    table = TaskTable()
    Counted.pickled = 0
    for key in range(200):
        assert table.add(key, functools.partial(f, key), (1,), f"n{key}", False) is None
    assert Counted.pickled == 1 and len(task_functions(table)) == 1
    fn_id, frames = table.tasks[table.tid_of[7]]
    assert isinstance(frames, list)
    assert load(table, fn_id)(*p.loads(frames)) == 71


def test_add_partial_with_keywords_or_a_subclass_still_runs_as_given() -> None:
    class Shifted(functools.partial[int]):
        def __call__(self, *args: object, **kw: object) -> int:
            return super().__call__(*args, **kw) + 1

    table = TaskTable()
    table.add(0, functools.partial(add, y=2), (40,), "kw", False)
    table.add(1, Shifted(add, 40), (1,), "sub", False)
    for key, want in ((0, 42), (1, 42)):
        fn_id, frames = table.tasks[table.tid_of[key]]
        assert isinstance(frames, list)
        assert load(table, fn_id)(*p.loads(frames)) == want


def test_add_partial_over_an_unpicklable_value_fails_as_its_task() -> None:
    def pair(x: object, y: object) -> tuple[object, object]:
        return (x, y)

    failed = TaskTable().add(0, functools.partial(pair, threading.Lock()), (1,), "p", False)
    assert isinstance(failed, Failed) and isinstance(failed.error, SerializationError)
    assert (failed.error.what, failed.error.type_name) == ("task", "_thread.lock")


def test_add_keeps_argument_frames_until_handed_on() -> None:
    table = TaskTable()
    table.add(1, add, (1, 2), "a", False)
    table.add(2, len, (), "b", False)
    tid1, tid2 = table.tid_of[1], table.tid_of[2]
    assert table.tasks[tid2][1] == []  # no arguments, no frames
    added, _ = table.take_added()
    assert added == {tid1: table.tasks[tid1][0], tid2: table.tasks[tid2][0]}
    assert table.take_added() == ({}, {})
    frames = table.tasks[tid1][1]
    assert isinstance(frames, list) and p.loads(frames) == (1, 2)


def test_add_unpicklable_callable_fails_naming_node_and_culprit() -> None:
    table = TaskTable()
    lock = threading.Lock()
    failed = table.add(3, lambda: lock, (), "locked", False)
    assert isinstance(failed, Failed) and failed.key == 3  # under the executor's key
    assert table.tid_of == {} and table.key_of == {} and table.node_of == {}
    err = failed.error
    assert isinstance(err, SerializationError)
    assert (err.node_name, err.what, err.type_name) == ("locked", "task", "_thread.lock")
    assert table.tasks == {} and table.added == {}


def test_add_unpicklable_argument_fails_naming_node_and_culprit() -> None:
    table = TaskTable()
    failed = table.add(4, len, ([1, threading.Lock()],), "arg", False)
    assert isinstance(failed, Failed) and failed.worker == "coordinator"
    err = failed.error
    assert isinstance(err, SerializationError)
    assert (err.node_name, err.what, err.type_name) == ("arg", "argument", "_thread.lock")
    assert table.tasks == {} and table.added == {} and table.tid_of == {}
    assert failed.key == 4


def test_unpicklable_part_names_the_piece_that_fails() -> None:
    lock = threading.Lock()
    assert unpicklable_part((1, {"x": lock})) == "lock"  # one level into each container
    assert unpicklable_part(lock) == "lock"


def test_culprit_prefers_the_type_pickle_names() -> None:
    exc = TypeError("cannot pickle 'weird.Thing' object")
    assert culprit(exc, (1, 2)) == "weird.Thing"
    assert culprit(TypeError("other"), (1, threading.Lock())) == "lock"


def test_finish_gives_executor_keys_and_forgets_the_tasks() -> None:
    table = TaskTable()
    table.add(10, add, (1, 2), "ten", False)
    table.add(11, add, (3, 4), "eleven", False)
    tid10, tid11 = table.tid_of[10], table.tid_of[11]
    assert table.finish([tid10]) == [10]
    assert 10 not in table.tid_of and tid10 not in table.key_of and tid10 not in table.tasks
    assert table.tid_of[11] == tid11 and tid11 in table.tasks  # not reported: still live
    assert table.node_name(tid10) == "ten" and table.node_name(tid11) == "eleven"
    assert table.finish([tid10]) == [None]  # reported twice: the second is dropped


def test_finish_and_live_drop_reports_of_cancelled_tasks() -> None:
    table = TaskTable()
    table.add(1, add, (1, 2), "a", False)
    table.add(2, add, (1, 2), "b", False)
    tid1, tid2 = table.tid_of[1], table.tid_of[2]
    table.take_added()
    assert table.cancel(1) == tid1  # handed on: its holder must be told
    assert table.cancel(1) is None  # already gone
    assert tid1 not in table.tasks
    assert table.finish([tid1, tid2]) == [None, 2]
    assert table.node_name(tid1) is None
    # A completion made before the cancel, not yet seen by the executor, is dropped once.
    done: list[Completion] = [Started(1, 1.0, "w"), succeeded(2)]
    assert table.live(done) == [succeeded(2)] and len(done) == 2
    assert table.live(done) == done and table.live(done) is not done


def test_cancel_before_handing_on_just_drops_the_task() -> None:
    table = TaskTable()
    table.add(5, add, (1, 2), "a", False)
    assert table.cancel(5) is None
    assert table.tasks == {} and table.take_added() == ({}, {}) and table.tid_of == {}


def test_node_name_keeps_only_recent_finished_tasks() -> None:
    table = TaskTable()
    for key in range(5000):
        table.add(key, add, (1, 2), f"n{key}", False)
    table.finish([table.tid_of[key] for key in range(5000)])
    assert len(table.finished_nodes) <= 4096
    assert table.node_name(4999) == "n4999" and table.node_name(0) is None


def test_tasks_message_carries_the_functions_asked_first_and_small_arguments_inline() -> None:
    table = TaskTable()
    big = bytes(1 << 20)  # too big for the header: its frame follows it
    table.add(1, add, (big,), "big", False)
    table.add(2, add, (1, 2), "small", False)
    tid1, tid2 = table.tid_of[1], table.tid_of[2]
    (fn_id, big_frames), (_, small_frames) = table.tasks[tid1], table.tasks[tid2]
    assert isinstance(big_frames, list) and isinstance(small_frames, list)
    assert len(big_frames[0]) > p.INLINE_BYTES >= len(small_frames[0])
    kind, header, *body = table.tasks_message((tid1, tid2), (fn_id,))
    assert kind == p.TASKS
    assert p.load_header(header) == (
        (fn_id,),
        ((tid1, fn_id, len(big_frames)), (tid2, fn_id, bytes(small_frames[0]))),
    )
    assert body == [table.functions.frames[fn_id], *big_frames]  # functions first
    _, header, *body = table.tasks_message((tid2,), ())  # the worker has it already
    assert p.load_header(header) == ((), ((tid2, fn_id, bytes(small_frames[0])),))
    assert body == []


def test_release_functions_keeps_small_ones_for_the_next_run() -> None:
    table = TaskTable()
    table.add(0, add, (1, 2), "a", False)
    fn_id = table.tasks[table.tid_of[0]][0]
    table.cancel(0)
    assert table.release_functions() == ()
    table.add(0, add, (1, 2), "a", False)
    assert table.tasks[table.tid_of[0]][0] == fn_id  # the same pickle: workers keep it
    assert list(table.functions.frames) == [fn_id]


def test_release_functions_forgets_the_runs_callables() -> None:
    table = TaskTable()

    def make() -> Any:
        return lambda: 1

    fn = make()
    ref = weakref.ref(fn)
    table.add(0, fn, (), "a", False)
    table.cancel(0)
    table.release_functions()
    del fn
    assert ref() is None  # the table no longer keeps it alive


def test_release_functions_drops_large_ones_unless_a_task_still_needs_them() -> None:
    table = TaskTable()
    data = b"x" * (KEEP_FUNCTIONS_BYTES + 1)
    big = lambda: len(data)  # noqa: E731
    table.add(0, big, (), "big", False)
    table.add(1, add, (1, 2), "small", False)
    big_id, small_id = (table.tasks[table.tid_of[k]][0] for k in (0, 1))
    big_needs = table.functions.needed([big_id])  # with the lambda's code, shared
    assert len(big_needs) == 2
    table.cancel(1)
    assert table.release_functions() == (small_id,)  # "big" is still a task's
    table.cancel(0)
    assert set(table.release_functions()) == big_needs
    assert table.functions.frames == {} and table.functions.loads == {}
    table.add(2, big, (), "big", False)  # the same callable again: a new id, pickled anew
    assert table.tasks[table.tid_of[2]][0] not in (big_id, small_id)
