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
    from mrbatch.pipeline.rules import Rules

__all__ = [
    "QUEUED_PER_WORKER",
    "Counts",
    "Pool",
    "Progress",
    "Task",
    "build_index",
    "call_partition",
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

    def submit(self, function: Callable[[Any], Any], argument: Any) -> int: ...

    def next_result(self) -> tuple[int, Any]: ...

    def stop(self) -> None: ...


# Per-process caches for worker processes: the financial index is opened once per job (its
# path is unique to the job's work directory), the rules once per schema.
_SOURCES: dict[str, FinancialIndex] = {}
_RULES: dict[str | None, Rules] = {}


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


def run_task(task: Task) -> Counts:
    """Process one batch into its output part and its errors part (in a worker)."""
    from mrbatch.pipeline.process import process_batch

    batch = task.batch
    chunks = read_chunks(task)
    result = process_batch(chunks, rules=_rules(task.schema), financials=_source(task.index),
                           file=task.file, delimiter=task.delimiter)  # fmt: skip
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
