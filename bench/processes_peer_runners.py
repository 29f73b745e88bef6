"""The peers' runners for the processes benchmark: ProcessPoolExecutor, loky, dask, ray."""

from __future__ import annotations

import concurrent.futures
import logging
import sys
from queue import SimpleQueue
from typing import Any

from processes_runner import Runner
from processes_tasks import args_sum, big_value, burn, nbytes, noop, pause
from processes_workloads import Layered


class FuturesRunner(Runner):
    """A ``concurrent.futures`` executor of processes: ProcessPoolExecutor or loky."""

    def __init__(self) -> None:
        self.pool: Any = None

    def make_pool(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        self.pool = self.make_pool()
        # Both workers up and past their first task.
        list(self.pool.map(pause, [0.05, 0.05]))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def noop(self, n: int) -> None:
        futures = [self.pool.submit(noop) for _ in range(n)]
        concurrent.futures.wait(futures)
        for f in futures:
            f.result()

    def layered(self, g: Layered) -> int:
        """The loop people write by hand: in-degrees, a pool, a queue of finished futures."""
        children = g.children()
        waiting = [len(ps) for ps in g.parents]
        values: list[int] = [0] * g.n
        done: SimpleQueue[tuple[int, concurrent.futures.Future[int]]] = SimpleQueue()

        def submit(i: int) -> None:
            future = self.pool.submit(args_sum, *[values[p] for p in g.parents[i]])
            future.add_done_callback(lambda f, i=i: done.put((i, f)))

        for i in range(g.n):
            if waiting[i] == 0:
                submit(i)
        for _ in range(g.n):
            i, future = done.get()
            values[i] = future.result()
            for c in children[i]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    submit(c)
        return sum(values[i] for i in g.last_level)

    def cpu(self, k: int, iters: int) -> None:
        list(self.pool.map(burn, [iters] * k))

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.pool.submit(big_value, kind, size).result())


class PoolRunner(FuturesRunner):
    name = "ProcessPoolExecutor"

    def make_pool(self) -> Any:
        return concurrent.futures.ProcessPoolExecutor(max_workers=2)


class LokyRunner(FuturesRunner):
    name = "loky"

    def __init__(self) -> None:
        super().__init__()
        import loky  # type: ignore[import-untyped,unused-ignore]

        self.loky = loky

    def make_pool(self) -> Any:
        return self.loky.ProcessPoolExecutor(max_workers=2)


class DaskRunner(Runner):
    name = "dask.distributed"

    def __init__(self) -> None:
        import distributed

        self.distributed = distributed
        self.cluster: Any = None
        self.client: Any = None

    def start(self) -> None:
        self.cluster = self.distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        self.client = self.distributed.Client(self.cluster)
        self.client.gather(self.client.map(pause, [0.05, 0.05], pure=False))

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def noop(self, n: int) -> None:
        self.client.gather(self.client.map(noop, range(n), pure=False))

    def layered(self, g: Layered) -> int:
        futures: list[Any] = []
        for i in range(g.n):
            futures.append(
                self.client.submit(args_sum, *[futures[p] for p in g.parents[i]], pure=False)
            )
        return sum(self.client.gather([futures[i] for i in g.last_level]))

    def cpu(self, k: int, iters: int) -> None:
        self.client.gather(self.client.map(burn, [iters] * k, pure=False))

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.client.submit(big_value, kind, size, pure=False).result())


class RayRunner(Runner):
    name = "ray"

    def __init__(self) -> None:
        import ray

        self.ray = ray
        self.started = False
        self.remote: dict[str, Any] = {}

    def start(self) -> None:
        self.started = True
        self.ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=False,
        )
        module = sys.modules[noop.__module__]
        if module.__name__ != "__main__":  # imported: ray's workers do not have bench/ on sys.path
            self.ray.cloudpickle.register_pickle_by_value(module)
        for fn in (noop, args_sum, burn, big_value, pause):
            self.remote[fn.__name__] = self.ray.remote(fn)
        self.ray.get([self.remote["pause"].remote(0.05) for _ in range(2)])

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()

    def noop(self, n: int) -> None:
        f = self.remote["noop"]
        self.ray.get([f.remote() for _ in range(n)])

    def layered(self, g: Layered) -> int:
        f = self.remote["args_sum"]
        refs: list[Any] = []
        for i in range(g.n):
            refs.append(f.remote(*[refs[p] for p in g.parents[i]]))
        return sum(self.ray.get([refs[i] for i in g.last_level]))

    def cpu(self, k: int, iters: int) -> None:
        f = self.remote["burn"]
        self.ray.get([f.remote(iters) for _ in range(k)])

    def big(self, kind: str, size: int) -> int:
        return nbytes(self.ray.get(self.remote["big_value"].remote(kind, size)))
