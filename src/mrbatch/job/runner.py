"""The local job behind `mrbatch process`: plan the input, process its batches on a pool of
worker processes, merge, and write the output and the errors report atomically.

This is the one module of the pipeline that touches the file system and processes; the
workflow handlers of the two-region runtime call the pure functions (`split`,
`process_chunk`, `merge`) themselves, against an object store.

How it runs (see docs/performance.md for the measurements behind each choice):
- one pass over the input finds the records and cuts them into batches of whole chunks by
  byte offset (`plan`); workers read their batch straight from the input file;
- one worker loads the financial CSV once, checks it and sorts it into an Arrow IPC file in
  the work directory; every worker then maps that file instead of parsing the CSV again;
- each worker turns a batch into one output part and one errors part (`process_batch`),
  and the parent concatenates the parts in order under one header (`parts.PartMerger`);
- a financial file over 64 MB is not indexed whole in every worker but joined in slices
  (`sliced` in this process, `partition` in the workers): same output, bounded memory.

The parent never imports polars (nor jsonschema): it checks the header against the schema's
`required` and `additionalProperties` (`columns.header_rules`) and writes the output header
in plain Python; the workers compile the schema, the first of them before it builds the
index, so a schema that JSON Schema refuses fails the job before anything is written (after
the input's own errors, which this process finds first). With one worker, everything runs
in this process and polars is imported here, when the first task runs.

Files: parts live in a private work directory inside the output directory; the output and
the errors report are written to temporary names there and renamed into place only when
the whole file succeeded, so a failed file leaves nothing behind.

Example:
    >>> summary = run_job("in.csv", "fin.csv", "out")  # doctest: +SKIP
    >>> summary.rows_written  # doctest: +SKIP
    10000
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.errors import ConfigError, InputFileError
from mrbatch.job.parts import PartMerger as _Merger
from mrbatch.job.plan import Batch, Plan, plan_batches
from mrbatch.job.pool import WorkerPool
from mrbatch.job.worker import (
    QUEUED_PER_WORKER,
    Counts,
    Pool,
    Progress,
    Task,
    build_index,
    prepare_task,
    run_task,
)
from mrbatch.pipeline.columns import HeaderRules, header_rules, output_header_line, read_schema
from mrbatch.pipeline.split import DEFAULT_CHUNK_SIZE, chunk_count, read_header

__all__ = ["JobOptions", "JobSummary", "Progress", "run_job"]

# Records a worker gets per call, at least: enough to spread the fixed cost of each
# vectorised step and of each part file; small enough to keep a worker's memory bounded.
_ROWS_PER_TASK = 25000
# Inputs smaller than this (about 50,000 sample rows) run in this process by default.
_SMALL_INPUT_BYTES = 4 << 20
# Batches a worker may parse and check ahead while another builds the financial index:
# each is held in memory (~3 MB for 25,000 rows) until the index is loaded.
_PREPARED_PER_WORKER = 12
# What a worker imports as soon as it starts (polars and the processing code).
_WORKER_MODULES = ("mrbatch.pipeline.process",)


@dataclass(frozen=True)
class JobOptions:
    """How to run a job; `workers=None` means one per CPU (in this process for an input
    under 4 MiB), 1 means in this process."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    workers: int | None = None
    schema: Path | None = None
    delimiter: str = ","


@dataclass(frozen=True)
class JobSummary:
    """What a finished job did (printed by the CLI, as JSON with `--json`)."""

    input: str
    output: str
    errors: str
    rows_read: int
    rows_written: int
    rows_invalid: int
    rows_not_enriched: int
    chunks: int
    seconds: float
    rows_per_second: float = field(init=False)

    def __post_init__(self) -> None:
        rate = self.rows_read / self.seconds if self.seconds > 0 else 0.0
        object.__setattr__(self, "rows_per_second", round(rate, 1))

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return asdict(self)


def run_job(
    input_path: str | Path,
    financials_path: str | Path,
    out_dir: str | Path,
    *,
    options: JobOptions = JobOptions(),
    progress: Progress | None = None,
) -> JobSummary:
    """Process `input_path` into `out_dir`/<stem>.csv and <stem>.errors.csv.

    Raises InputFileError (naming the file) when the input or the financial data cannot be
    used as a whole, ConfigError for bad options; in both cases nothing is written.
    """
    started = time.perf_counter()
    source, out, financials = Path(input_path), Path(out_dir), Path(financials_path)
    _check_options(options, source, out)
    workers = _worker_count(options, source)
    slices = _slice_count(financials)
    # The workers start, and the first one builds the financial index in a private scratch
    # directory, while this process checks and plans the input. (Its errors come first.)
    # A financial file too large for an index in every worker is joined in slices instead.
    with (
        tempfile.TemporaryDirectory(prefix="mrbatch-index-") as scratch,
        _pool(workers) as pool,
    ):
        index = Path(scratch) / "financials.arrow"
        schema = None if options.schema is None else str(options.schema)
        build = -1
        if not slices:
            build = pool.submit(build_index, (str(financials), str(index), schema), worker=0)
        plan = _check_input(source, _header_rules(options.schema), options)
        _check_financials_header(financials)
        target, errors_target = _targets(out, source)
        header = _output_header(plan.header.columns)
        with (
            _work_dir(out, source.stem) as work,
            _Merger(work, header, target, errors_target) as merger,
        ):
            tasks = _tasks(source, plan, index, work, options)
            if slices:
                from mrbatch.job.sliced import run_sliced

                counts = run_sliced(pool, financials, Path(scratch), tasks, slices,
                                    workers, progress, merger)  # fmt: skip
            else:
                placed = _prepare_while_indexing(pool, tasks, build)
                counts = _run_batches(pool, tasks, placed, plan, options, progress, merger)
            pool.stop()  # the workers exit while the output is made durable
            merger.commit()
    return JobSummary(
        input=str(source),
        output=str(target),
        errors=str(errors_target),
        rows_read=sum(c.read for c in counts),
        rows_written=sum(c.written for c in counts),
        rows_invalid=sum(c.invalid for c in counts),
        rows_not_enriched=sum(c.not_enriched for c in counts),
        chunks=chunk_count(plan.records, options.chunk_size),
        seconds=round(time.perf_counter() - started, 3),
    )


def _worker_count(options: JobOptions, source: Path) -> int:
    """`options.workers`, or one per CPU; but a small input (the default), whose batches
    take less time than starting worker processes, runs in this process."""
    if options.workers is not None:
        return options.workers
    with contextlib.suppress(OSError):
        if source.stat().st_size < _SMALL_INPUT_BYTES:
            return 1
    return os.cpu_count() or 1


def _targets(out: Path, source: Path) -> tuple[Path, Path]:
    """The output and errors paths in `out` (created if needed)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output directory {out}: {exc.strerror}") from exc
    return out / f"{source.stem}.csv", out / f"{source.stem}.errors.csv"


def _check_options(options: JobOptions, source: Path, out: Path) -> None:
    if options.chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    if options.workers is not None and options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if len(options.delimiter) != 1 or options.delimiter in '"\r\n':
        raise ConfigError("the delimiter must be one character other than a quote or line end")
    if (out / f"{source.stem}.csv").resolve() == source.resolve():
        raise ConfigError(f"the output would overwrite the input {source}")


def _header_rules(schema: Path | None) -> HeaderRules:
    """The schema's header rules, read without compiling it (that is the workers' job);
    a schema of an unusual shape is compiled here, to raise its ConfigError first."""
    found = header_rules(read_schema(schema)[0])
    if found is None:
        from mrbatch.pipeline.rules import load_rules

        rules = load_rules(schema)
        found = HeaderRules(rules.required, rules.closed, rules.properties)
    return found


def _output_header(columns: tuple[str, ...]) -> bytes:
    """The output header; polars writes it only when some column name needs quoting."""
    line = output_header_line(columns)
    if line is None:
        from mrbatch.pipeline.process import output_header

        line = output_header(columns)
    return line


def _check_input(source: Path, rules: HeaderRules, options: JobOptions) -> Plan:
    """Refuse a bad input file before anything is written; return its plan."""
    per_task = max(1, _ROWS_PER_TASK // options.chunk_size) * options.chunk_size
    try:
        with source.open("rb") as stream:
            header = read_header(stream, file=str(source), delimiter=options.delimiter)
            rules.check_header(header.columns, file=str(source))
            stream.seek(0)
            return plan_batches(stream, records_per_batch=per_task, file=str(source),
                                delimiter=options.delimiter)  # fmt: skip
    except OSError as exc:
        raise InputFileError(str(source), f"cannot be read: {exc.strerror or exc}") from exc


def _check_financials_header(path: Path) -> None:
    try:
        with path.open("rb") as stream:
            read_header(stream, file=str(path))
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc


@contextmanager
def _work_dir(out: Path, stem: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f".{stem}.work-", dir=out))
    try:
        for sub in ("out", "err"):
            (work / sub).mkdir()
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _slice_count(financials: Path) -> int:
    from mrbatch.job.sliced import slice_count

    return slice_count(financials)


def _tasks(source: Path, plan: Plan, index: Path, work: Path, options: JobOptions) -> list[Task]:
    schema = None if options.schema is None else str(options.schema)
    width = len(str(len(plan.batches)))
    return [_task(n, batch, width, source, plan, index, schema, work, options)
            for n, batch in enumerate(plan.batches)]  # fmt: skip


def _prepare_while_indexing(pool: Pool, tasks: list[Task], build: int) -> dict[int, int]:
    """While worker 0 builds the financial index (task `build`), the other workers parse
    and check the first batches (`prepare_task`), one at a time each, until it is built.

    Returns batch number -> the worker that holds it checked (its `run_task` must go there).
    A check still running when the index is ready finishes in its worker's turn; its
    result is then collected and passed over by `_collect`.
    """
    helpers = range(1, pool.size)
    upcoming = iter(tasks[: _PREPARED_PER_WORKER * len(helpers)])
    placed: dict[int, int] = {}
    running: dict[int, int] = {}

    def start(worker: int) -> None:
        task = next(upcoming, None)
        if task is not None:
            running[pool.submit(prepare_task, task, worker=worker)] = worker
            placed[task.number] = worker

    for worker in helpers:
        start(worker)
    while (number := pool.next_result()[0]) != build:  # raises if the build failed
        start(running.pop(number))
    return placed


def _run_batches(
    pool: Pool,
    tasks: list[Task],
    placed: dict[int, int],
    plan: Plan,
    options: JobOptions,
    progress: Progress | None,
    merger: _Merger,
) -> list[Counts]:
    """Process every batch of `plan` on `pool`, handing finished ones to `merger`.

    A batch checked ahead (`placed`) goes to the worker that holds it; the others to any
    worker with room, in batch order; each worker has QUEUED_PER_WORKER tasks at most, so
    none waits for the parent between two tasks.
    """
    total = chunk_count(plan.records, options.chunk_size)
    results: list[Counts] = []
    pinned: dict[int, deque[Task]] = {worker: deque() for worker in range(pool.size)}
    free: deque[Task] = deque()
    for task in tasks:
        (pinned[placed[task.number]] if task.number in placed else free).append(task)
    batch_of: dict[int, Task] = {}
    while True:
        for worker, queue in pinned.items():
            while pool.queued(worker) < QUEUED_PER_WORKER and (queue or free):
                task = (queue or free).popleft()
                batch_of[pool.submit(run_task, task, worker=worker)] = task
        if not pool.pending:
            return results
        _collect(pool, results, total, progress, batch_of, merger)


def _task(
    n: int,
    batch: Batch,
    width: int,
    source: Path,
    plan: Plan,
    index: Path,
    schema: str | None,
    work: Path,
    options: JobOptions,
) -> Task:
    name = f"{n:0{width}d}.csv"
    return Task(n, str(source), batch, plan.header.raw, options.chunk_size, str(index), schema,
                 options.delimiter, str(work / "out" / name), str(work / "err" / name))  # fmt: skip


def _collect(
    pool: Pool,
    results: list[Counts],
    total: int,
    progress: Progress | None,
    batch_of: dict[int, Task],
    merger: _Merger,
) -> None:
    number, counts = pool.next_result()
    task = batch_of.pop(number, None)
    if task is None:  # a check ahead that was still running when the index was ready
        return
    results.append(counts)
    merger.done(task)
    if progress is not None:
        progress(sum(c.chunks for c in results), total, sum(c.read for c in results))


class _InlinePool:
    """Runs tasks in this process, one at a time, when they are collected (--workers 1)."""

    def __init__(self) -> None:
        self._queue: list[tuple[int, Callable[[Any], Any], Any]] = []
        self._next = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def size(self) -> int:
        return 1

    def submit(
        self, function: Callable[[Any], Any], argument: Any, *, worker: int | None = None
    ) -> int:
        self._queue.append((self._next, function, argument))
        self._next += 1
        return self._next - 1

    def queued(self, worker: int) -> int:
        return len(self._queue)

    def next_result(self) -> tuple[int, Any]:
        number, function, argument = self._queue.pop(0)
        return number, function(argument)

    def stop(self) -> None:
        """Nothing to stop: tasks run in this process."""


@contextmanager
def _pool(workers: int) -> Iterator[Pool]:
    if workers == 1:
        yield _InlinePool()
        return
    with WorkerPool(workers, preload=_WORKER_MODULES) as pool:
        yield pool
