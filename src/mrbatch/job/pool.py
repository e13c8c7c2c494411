"""Worker processes for `mrbatch process`: a small pool that starts lean interpreters.

Why not `ProcessPoolExecutor`: a spawned multiprocessing child re-runs the parent's main
script first, and for the `mrbatch` command that is the whole CLI (typer, rich, boto3, the
runtime: ~0.6 s of imports per worker). These workers start with `python -c` and import only
what their tasks need. Each one also gets `POLARS_MAX_THREADS=1`, set before polars is
imported: two workers with two polars threads each on two cores only fight for them.
And their allocator returns freed memory at once (see `WorkerPool.__init__`).

A task is a module-level function and one picklable argument; results and exceptions come
back pickled (MrBatchError subclasses keep their type and message).

Example:
    >>> with WorkerPool(1) as pool:  # doctest: +SKIP
    ...     pool.submit(abs, -3)
    ...     [result for _, result in pool.results()]
    [3]
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any

__all__ = ["WorkerPool", "serve"]

_STOP_SECONDS = 10.0


class _Worker:
    """One child process and its two pipes (tasks in, results out)."""

    def __init__(self, env: dict[str, str], preload: tuple[str, ...]) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        code = (
            f"from mrbatch.job.pool import serve; serve({task_read}, {result_write}, {preload!r})"
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], env=env, pass_fds=(task_read, result_write)
            )
        finally:
            os.close(task_read)
            os.close(result_write)
        self.tasks = Connection(task_write, readable=False)
        self.results = Connection(result_read, writable=False)
        self.busy = 0


class WorkerPool:
    """`size` worker processes; tasks go to the least busy one, results come back as ready.

    Use it as a context manager: leaving it stops the workers (they finish their current
    task when leaving normally, and are killed after a deadline otherwise). Each worker
    imports the modules named in `preload` as soon as it starts, before its first task
    arrives, so the import overlaps with whatever the parent does meanwhile.
    """

    def __init__(
        self, size: int, *, env: dict[str, str] | None = None, preload: Sequence[str] = ()
    ) -> None:
        child_env = dict(os.environ if env is None else env)
        child_env["POLARS_MAX_THREADS"] = "1"
        # polars' allocator (jemalloc) otherwise keeps freed pages for seconds: a worker
        # would hold the peak of every earlier task. Returned within 100 ms, a worker's
        # memory follows what its recent tasks need, and the next task reuses the pages of
        # the last one: returning them at once (0 ms) made every task fault its memory in
        # again, ~50% more CPU per batch (1M rows: 2.90 s vs 2.42 s; 30 ms: 2.53 s;
        # 200 ms: 2.37 s but 481 MB instead of 445 MB at the peak).
        # (polars sets its own default in this variable when imported: override it.)
        child_env["_RJEM_MALLOC_CONF"] = "dirty_decay_ms:100,muzzy_decay_ms:0"
        self._workers = [_Worker(child_env, tuple(preload)) for _ in range(size)]
        self._owner: dict[int, _Worker] = {}
        self._next = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close(kill=error is not None)

    @property
    def pending(self) -> int:
        """Tasks submitted whose result has not been returned yet."""
        return len(self._owner)

    @property
    def size(self) -> int:
        """How many workers the pool has (numbered 0 to size - 1 for `submit`)."""
        return len(self._workers)

    def submit(
        self, function: Callable[[Any], Any], argument: Any, *, worker: int | None = None
    ) -> int:
        """Send `function(argument)` to worker number `worker`, or to the least busy one;
        return the task's number. A worker runs its tasks in the order they were sent."""
        chosen = (
            min(self._workers, key=lambda w: w.busy) if worker is None else self._workers[worker]
        )
        number = self._next
        self._next += 1
        chosen.tasks.send((number, function, argument))
        chosen.busy += 1
        self._owner[number] = chosen
        return number

    def queued(self, worker: int) -> int:
        """Tasks sent to worker number `worker` whose result has not been returned yet."""
        return self._workers[worker].busy

    def results(self) -> Iterator[tuple[int, Any]]:
        """Yield (task number, result) for every pending task as it finishes.

        Re-raises a task's exception; raises RuntimeError if a worker dies.
        """
        while self._owner:
            yield self.next_result()

    def next_result(self) -> tuple[int, Any]:
        """Wait for one pending task; see `results`."""
        if not self._owner:
            raise ValueError("no task is pending")
        busy = {w.results: w for w in self._workers if w.busy}
        ready = wait(list(busy))
        worker = busy[ready[0]]  # type: ignore[index]
        try:
            number, ok, value = worker.results.recv()
        except EOFError as exc:
            code = worker.process.wait()
            message = f"worker process {worker.process.pid} died (exit code {code})"
            raise RuntimeError(message) from exc
        worker.busy -= 1
        del self._owner[number]
        if not ok:
            raise value
        return number, value

    def stop(self) -> None:
        """Ask the workers to exit once their tasks are done, without waiting for them."""
        for worker in self._workers:
            worker.tasks.close()

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: ask them to finish (or kill them), then reap them."""
        for worker in self._workers:
            worker.tasks.close()
            if kill:
                worker.process.kill()
        for worker in self._workers:
            try:
                worker.process.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.results.close()


def serve(task_fd: int, result_fd: int, preload: Sequence[str] = ()) -> None:
    """The worker loop: import `preload`, then run tasks from `task_fd` until it closes,
    results to `result_fd`."""
    for module in preload:
        importlib.import_module(module)
    tasks = Connection(task_fd, writable=False)
    results = Connection(result_fd, readable=False)
    while True:
        try:
            number, function, argument = tasks.recv()
        except EOFError:
            return
        try:
            reply = (number, True, function(argument))
        except Exception as exc:  # sent to the parent, which re-raises it
            reply = (number, False, exc)
        try:
            results.send(reply)
        except Exception as exc:  # a result or error that cannot be pickled
            results.send((number, False, RuntimeError(f"{reply[2]!r} ({exc})")))
