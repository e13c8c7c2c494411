"""Every transition of a file version's batch-state record, in one place.

The record (`mrbatch.model.BatchFile`) is the contract's ledger: a file version is
accepted when it is claimed, and done when it is COMPLETED or FAILED. Each transition is a
conditional write through the `Table` port, never a read-then-write decision:

    claim       (none) -> INITIALIZED, or any unfinished -> INITIALIZED under a newer epoch
    running     -> RUNNING with the chunk count          (the split is done)
    merged      output key and counts recorded           (the merge is done)
    completed   -> COMPLETED, by which region and when   (the email is sent)
    failed      -> FAILED with the error and cause       (the run gave up)

Every write after the claim is fenced: it holds only while no newer epoch owns the item
(`Condition(at_most={"epoch": epoch})`), so a run that lost activation cannot overwrite
what the new owner wrote. Like Powertools' idempotency layer, callers never spell a
status or build an item themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mrbatch.errors import ConditionFailedError
from mrbatch.handlers import naming
from mrbatch.handlers.payloads import ChunkCounts
from mrbatch.model import BatchFile, FileStatus
from mrbatch.ports import Condition, Table

__all__ = [
    "claim",
    "mark_completed",
    "mark_failed",
    "mark_running",
    "record_merge",
    "unfinished_files",
]

Clock = Callable[[], float]


def claim(
    table: Table,
    *,
    key: str,
    version_id: str,
    region: str,
    epoch: int,
    event: Mapping[str, Any] | None = None,
    clock: Clock = time.time,
) -> BatchFile | None:
    """Make the record say `region` works on the file version under `epoch`; None when the
    version is already finished. A claim at the same epoch (a duplicate event) returns the
    record as it is, whatever its status: a RUNNING file is never reset."""
    now = clock()
    fresh = BatchFile(
        file_id=naming.file_id(key, version_id),
        key=key,
        version_id=version_id,
        status=FileStatus.INITIALIZED,
        region=region,
        epoch=epoch,
        created_at=now,
        updated_at=now,
        event=dict(event or {}),
    )
    while True:
        try:
            table.put(fresh.to_item(), condition=Condition(absent=("file_id",)))
            return fresh
        except ConditionFailedError:
            pass
        existing = BatchFile.from_item(table.get({"file_id": fresh.file_id}) or fresh.to_item())
        if existing.status.finished:
            return None
        if existing.epoch >= epoch:
            return existing  # same epoch: a duplicate event; the run's start is idempotent
        try:
            changes = {"status": FileStatus.INITIALIZED.value, "region": region, "epoch": epoch}
            item = table.update(
                {"file_id": fresh.file_id},
                {**changes, "updated_at": now},
                condition=Condition(equals={"epoch": existing.epoch}),
            )
            return BatchFile.from_item(item)
        except ConditionFailedError:
            continue  # another claim won meanwhile: look again


def _fenced(table: Table, file_id: str, epoch: int, changes: Mapping[str, Any]) -> None:
    """Update the record unless a later epoch has taken it over (ConditionFailedError)."""
    table.update(
        {"file_id": file_id},
        {**changes, "updated_at": time.time()},
        condition=Condition(at_most={"epoch": epoch}),
    )


def mark_running(table: Table, file_id: str, epoch: int, *, chunks_total: int) -> None:
    """The split is done: the file is RUNNING with `chunks_total` chunks."""
    _fenced(
        table, file_id, epoch, {"status": FileStatus.RUNNING.value, "chunks_total": chunks_total}
    )


def record_merge(
    table: Table, file_id: str, epoch: int, *, output: str, counts: ChunkCounts
) -> None:
    """The merge is done: record where the output is and the row counts."""
    _fenced(table, file_id, epoch, {"output": output, "counts": counts})


def mark_completed(table: Table, file_id: str, epoch: int, *, region: str) -> None:
    """The email is sent: the file is COMPLETED by `region`."""
    changes = {"status": FileStatus.COMPLETED.value, "completed_region": region}
    _fenced(table, file_id, epoch, {**changes, "completed_at": time.time()})


def mark_failed(table: Table, file_id: str, epoch: int, *, error: str, cause: str) -> None:
    """The run gave up: the file is FAILED with the error and cause that stopped it."""
    _fenced(
        table, file_id, epoch, {"status": FileStatus.FAILED.value, "error": error, "cause": cause}
    )


def unfinished_files(tables: Iterable[Table]) -> dict[str, BatchFile]:
    """Records not COMPLETED/FAILED in any of `tables`, by file id, read through the status
    index. A version finished in one table is finished (replication may lag in another)."""
    found: dict[str, BatchFile] = {}
    finished: set[str] = set()
    for table in tables:
        for status in FileStatus:
            for item in table.query("status", status.value):
                record = BatchFile.from_item(item)
                if status.finished:
                    finished.add(record.file_id)
                else:
                    found.setdefault(record.file_id, record)
    return {fid: record for fid, record in sorted(found.items()) if fid not in finished}
