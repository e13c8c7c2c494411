"""What runs inside the job's worker processes, and the tasks the parent hands them.

Kept apart from `runner` (the parent) so that the parent and the sliced join (`sliced`)
can both refer to the tasks and the worker functions without importing each other. The
parent never imports polars: this module imports it lazily, in the workers only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mrbatch.job.plan import Batch
from mrbatch.pipeline.merge import errors_csv
from mrbatch.pipeline.split import chunk_count

if TYPE_CHECKING:  # imported by the workers only (polars)
    from mrbatch.pipeline.enrich import FinancialIndex
    from mrbatch.pipeline.process import BatchResult, ValidatedBatch
    from mrbatch.pipeline.rules import Rules

__all__ = [
    "QUEUED_PER_WORKER",
    "Counts",
    "Pool",
    "Progress",
    "Task",
    "build_index",
    "call_partition",
    "prepare_task",
    "read_chunks",
    "run_task",
    "stage_task",
]

# Tasks queued per worker, so a worker never waits for the parent between two tasks.
QUEUED_PER_WORKER = 2
# Called after each batch of chunks with (chunks done, chunks in total, rows read so far).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Task:
    """One batch for a worker: where its records are, where its parts go."""

    number: int
    file: str
    batch: Batch
    header: bytes
    chunk_size: int
    index: str
    schema: str | None
    delimiter: str
    output: str
    errors: str


@dataclass(frozen=True)
class Counts:
    chunks: int
    read: int
    written: int
    invalid: int
    not_enriched: int


class Pool(Protocol):
    """What the job needs of a pool (WorkerPool, or _InlinePool for one worker)."""

    @property
    def pending(self) -> int: ...

    @property
    def size(self) -> int: ...

    def submit(
        self, function: Callable[[Any], Any], argument: Any, *, worker: int | None = None
    ) -> int: ...

    def queued(self, worker: int) -> int: ...

    def next_result(self) -> tuple[int, Any]: ...

    def stop(self) -> None: ...


# Per-process caches for worker processes: the financial index is opened once per job (its
# path is unique to the job's work directory), the rules once per schema.
_SOURCES: dict[str, FinancialIndex] = {}
_RULES: dict[str | None, Rules] = {}
# Batches checked before the financial index was ready (`prepare_task`), by output part:
# each one's checked rows, or the exception checking it raised (raised by `run_task`).
_PREPARED: dict[str, ValidatedBatch | Exception] = {}


def build_index(paths: tuple[str, str, str | None]) -> None:
    """Compile the rules (a bad schema fails here, first); load, check and sort the
    financial CSV once; save it where the other workers map it."""
    from mrbatch.pipeline.enrich import FinancialIndex

    financials, index, schema = paths
    _rules(schema)
    source = FinancialIndex.from_path(financials)
    source.save(index)
    _SOURCES.clear()
    _SOURCES[index] = source


def _rules(schema: str | None) -> Rules:
    if schema not in _RULES:
        from mrbatch.pipeline.rules import load_rules

        _RULES[schema] = load_rules(schema)
    return _RULES[schema]


def _source(index: str) -> FinancialIndex:
    from mrbatch.pipeline.enrich import FinancialIndex

    if index not in _SOURCES:
        _SOURCES.clear()
        _SOURCES[index] = FinancialIndex.load(index)
    return _SOURCES[index]


def read_chunks(task: Task) -> list[tuple[bytes, int]]:
    """The records of a task's batch as one (bytes with header, first row) chunk.

    One chunk even when some records are dirty: the parser sends only those records the
    careful way (see `parse`), so cutting the batch into chunks would only add cost.
    """
    batch = task.batch
    with open(task.file, "rb") as stream:
        stream.seek(batch.start)
        data = task.header + stream.read(batch.end - batch.start)
    return [(data, batch.first_row)]


def prepare_task(task: Task) -> None:
    """Parse and check a batch before the financial index exists (in a worker that would
    otherwise wait for it); `run_task` for the same task, sent to the same worker, then
    only enriches and writes it. An error is kept for `run_task` to raise, so a job fails
    with the same error, at the same point, as without this step."""
    from mrbatch.pipeline.process import validate_batch

    prepared: ValidatedBatch | Exception
    try:
        chunks, rules = read_chunks(task), _rules(task.schema)
        prepared = validate_batch(chunks, rules=rules, file=task.file, delimiter=task.delimiter)
    except Exception as exc:  # raised again by run_task, in the batch's turn
        prepared = exc
    _PREPARED[task.output] = prepared


def _result(task: Task) -> BatchResult:
    from mrbatch.pipeline.process import enrich_batch, process_batch

    prepared = _PREPARED.pop(task.output, None)
    if isinstance(prepared, Exception):
        raise prepared
    if prepared is not None:
        return enrich_batch(prepared, _source(task.index))
    return process_batch(read_chunks(task), rules=_rules(task.schema),
                         financials=_source(task.index), file=task.file,
                         delimiter=task.delimiter)  # fmt: skip


def run_task(task: Task) -> Counts:
    """Process one batch into its output part and its errors part (in a worker)."""
    batch = task.batch
    result = _result(task)
    Path(task.output).write_bytes(result.body)
    Path(task.errors).write_bytes(errors_csv(result.errors, header=False))
    return Counts(chunk_count(batch.records, task.chunk_size), result.rows_read,
                   result.rows_written, result.rows_invalid, result.rows_not_enriched)  # fmt: skip


def stage_task(argument: tuple[Task, int, str]) -> tuple[int, int]:
    """Step 2 of the partitioned join (see `partition`), in a worker."""
    from mrbatch.job.partition import stage_batch

    task, slices, work = argument
    return stage_batch(task.number, read_chunks(task), _rules(task.schema), task.file,
                       task.delimiter, work, slices)  # fmt: skip


def call_partition(argument: tuple[str, tuple[Any, ...]]) -> Any:
    """Run a step of the partitioned join (a function of `partition`), in a worker."""
    from mrbatch.job import partition

    name, arguments = argument
    return getattr(partition, name)(*arguments)
