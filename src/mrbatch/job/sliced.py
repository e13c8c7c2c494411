"""The partitioned join of `mrbatch process`, parent side: used when the financial file is
too large for every worker to hold its index (see `partition` for the steps and why).

Like the rest of the job's parent, this module does not import polars: the steps run in
the workers, through `job.call_partition`, and the parent only hands out byte ranges and file names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mrbatch.errors import InputFileError
from mrbatch.job.parts import PartMerger
from mrbatch.job.plan import plan_batches
from mrbatch.job.worker import (
    QUEUED_PER_WORKER,
    Counts,
    Pool,
    Progress,
    Task,
    call_partition,
    stage_task,
)
from mrbatch.pipeline.split import chunk_count

__all__ = ["SLICE_BYTES", "WHOLE_INDEX_BYTES", "run_sliced", "slice_count"]

# A financial file up to this size is indexed whole in each worker (~70 MB of index at
# 57 MB of file); above it, the job slices it into parts of about SLICE_BYTES each.
WHOLE_INDEX_BYTES = 64 << 20
SLICE_BYTES = 32 << 20
# Records of the financial file parsed per task (about 14 MB of the sample's file: a
# worker needs ~7 times that while it routes them).
_PIECE_RECORDS = 250_000


def slice_count(financials: Path) -> int:
    """How many slices the financial file needs: 0 for the usual whole index."""
    try:
        size = financials.stat().st_size
    except OSError:
        return 0  # the usual way reports the error
    return 0 if size <= WHOLE_INDEX_BYTES else -(-size // SLICE_BYTES)


def run_sliced(
    pool: Pool,
    financials: Path,
    work: Path,
    tasks: list[Task],
    slices: int,
    workers: int,
    progress: Progress | None,
    merger: PartMerger,
) -> list[Counts]:
    """Run the four steps of the partitioned join on `pool`; the output parts go to `merger`
    in batch order. Raises InputFileError for a bad financial file (as the usual way)."""
    limit = QUEUED_PER_WORKER * max(1, workers)
    pieces = _route(pool, financials, work, slices, limit)
    staged = dict(_each(pool, limit, stage_task, [(task, slices, str(work)) for task in tasks]))
    joins = [("join_slice", (n, pieces, len(tasks), str(work))) for n in range(slices)]
    repeated = [
        found for _, found in _each(pool, limit, call_partition, joins) if found is not None
    ]
    if repeated:
        _, uuid = min(repeated)
        raise InputFileError(str(financials), f"uuid {uuid} appears more than once")
    counts: list[Counts] = []
    total = sum(chunk_count(task.batch.records, task.chunk_size) for task in tasks)
    finishes = [("finish_batch", (t.number, slices, str(work), t.file, t.output, t.errors))
                for t in tasks]  # fmt: skip
    for number, (written, missing) in _each(pool, limit, call_partition, finishes):
        task = tasks[number]
        read, invalid = staged[number]
        chunks = chunk_count(task.batch.records, task.chunk_size)
        counts.append(Counts(chunks, read, written, invalid, missing))
        merger.done(task)
        if progress is not None:
            progress(sum(c.chunks for c in counts), total, sum(c.read for c in counts))
    return counts


def _route(pool: Pool, financials: Path, work: Path, slices: int, limit: int) -> int:
    """Step 1: the financial file in pieces, each routed into the slices; returns the
    number of pieces."""
    try:
        with financials.open("rb") as stream:
            plan = plan_batches(stream, records_per_batch=_PIECE_RECORDS, file=str(financials))
    except OSError as exc:
        raise InputFileError(str(financials), f"cannot be read: {exc.strerror or exc}") from exc
    head = plan.header.raw
    routes = [("route_financials", (str(financials), piece.start, piece.end, piece.first_row,
                                    head, n, str(work), slices))
              for n, piece in enumerate(plan.batches)]  # fmt: skip
    for _ in _each(pool, limit, call_partition, routes):
        pass
    return len(plan.batches)


def _each(
    pool: Pool, limit: int, function: Callable[[Any], Any], arguments: Iterable[Any]
) -> Iterator[tuple[int, Any]]:
    """Run `function` on each argument on `pool`, at most `limit` queued at a time; yield
    (position of the argument, result) as results come."""
    position_of: dict[int, int] = {}
    for position, argument in enumerate(arguments):
        position_of[pool.submit(function, argument)] = position
        while pool.pending >= limit:
            number, result = pool.next_result()
            yield position_of.pop(number), result
    while pool.pending:
        number, result = pool.next_result()
        yield position_of.pop(number), result
