"""The worker pool of `mrbatch process`: real child processes, results, errors, a death."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mrbatch.errors import InputFileError
from mrbatch.job.pool import WorkerPool
from mrbatch.pipeline.enrich import CsvFinancialSource


def test_results_come_back_for_every_task_and_workers_are_reaped() -> None:
    with WorkerPool(2) as pool:
        numbers = {pool.submit(abs, -value): value for value in range(6)}
        results = dict(pool.results())
        assert {numbers[n]: result for n, result in results.items()} == {v: v for v in range(6)}
        processes = [worker.process for worker in pool._workers]
    assert [process.returncode for process in processes] == [0, 0]


def test_workers_run_polars_on_one_thread() -> None:
    with WorkerPool(1) as pool:
        pool.submit(os.getenv, "POLARS_MAX_THREADS")
        assert [result for _, result in pool.results()] == ["1"]


def test_a_task_error_is_raised_in_the_parent_with_its_type(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with WorkerPool(1) as pool:
        pool.submit(CsvFinancialSource.from_path, str(missing))
        with pytest.raises(InputFileError) as raised:
            pool.next_result()
        assert raised.value.file == str(missing)
        pool.submit(abs, -1)  # the worker survives a failing task
        assert pool.next_result()[1] == 1


def test_a_dying_worker_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match=r"died \(exit code 3\)"), WorkerPool(1) as pool:
        pool.submit(os._exit, 3)
        pool.next_result()


def test_a_task_sent_to_a_worker_runs_there_and_counts_in_its_queue() -> None:
    with WorkerPool(2) as pool:
        pids = [worker.process.pid for worker in pool._workers]
        numbers = [pool.submit(os.readlink, "/proc/self", worker=1) for _ in range(3)]
        assert (pool.size, pool.queued(0), pool.queued(1)) == (2, 0, 3)
        results = dict(pool.results())
        assert [results[number] for number in numbers] == [str(pids[1])] * 3
        assert (pool.queued(0), pool.queued(1)) == (0, 0)
