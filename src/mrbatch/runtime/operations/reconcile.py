"""Reconciliation: after the routing control moved, re-drive every unfinished file.

The AWS sample re-copies every file still marked INITIALIZED so that the new region gets
an object-created event and starts from scratch. mrbatch re-drives the same way — by
re-announcing the input object on the new active region's change feed, so the region's own
trigger takes the file over under the new epoch — but better:

- unfinished means every status but COMPLETED/FAILED (INITIALIZED *and* RUNNING), read
  through the status index of *both* regions' tables, so an item whose replication lags
  is not missed;
- a file whose input has not replicated yet is reported missing and needs nothing more:
  when its replica lands, replication's own event drives it (the trigger takes over any
  file an older epoch left unfinished);
- an input no region ever recorded is re-driven too: while the active region is down, the
  access point stores uploads in the standby, whose trigger skips them (it is not active),
  so no batch-state item exists for them; every input version in the new region's bucket
  without an item in either table is re-announced (`unrecorded`). This lists `input/`
  once per reconciliation: cheap locally; on AWS, an S3 Inventory would bound it;
- re-driving is idempotent: the execution name is derived from the file version and the
  epoch, so reconciling twice, or the original event arriving again, starts nothing new;
- the new run reuses every chunk output that already replicated (see the handlers);
- a claim the old region made on its stale copy can replicate in after the new epoch was
  reconciled, and win by last-writer-wins over a COMPLETED record: `redrive_stale`, run
  by the active region from time to time, re-announces every record left unfinished under
  an older epoch, so no record waits for a region that will never run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mrbatch.errors import ObjectNotFoundError
from mrbatch.handlers import naming
from mrbatch.handlers.batch_state import unfinished_files
from mrbatch.model import BatchFile, FileStatus
from mrbatch.ports import Metrics, Table
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore

__all__ = ["ReconcileResult", "reconcile", "redrive_stale", "unfinished_files"]


@dataclass(frozen=True)
class ReconcileResult:
    """What reconciliation did, for the runbook's record."""

    region: str
    redriven: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)  # also in `redriven`
    already_present: int = 0


def reconcile(
    *,
    region: str,
    store: RecordedObjectStore,
    tables: list[Table],
    metrics: Metrics,
    suffixes: tuple[str, ...] = naming.DEFAULT_INPUT_SUFFIXES,
) -> ReconcileResult:
    """Re-announce each unfinished file whose input version is in `region`'s bucket, and
    each input version there (a key the trigger processes: see `naming.is_input`) that no
    table has a record of."""
    result = ReconcileResult(region)
    _redrive_unrecorded(store, tables, result, suffixes)
    for file_id, record in unfinished_files(tables).items():
        key, version = record.key, record.version_id
        try:
            info = store.head(key)
        except ObjectNotFoundError:
            result.missing.append(file_id)
            continue
        if info.version_id != version:
            result.missing.append(file_id)  # that version has not replicated yet
            continue
        store.feed.commit(store.feed.begin(key), info)
        result.redriven.append(file_id)
    metrics.count("ReconciledFiles", len(result.redriven), region=region)
    return result


def _redrive_unrecorded(
    store: RecordedObjectStore,
    tables: list[Table],
    result: ReconcileResult,
    suffixes: tuple[str, ...],
) -> None:
    """Re-announce every input version in `store` that no table has an item for."""
    for info in store.list(naming.INPUT_PREFIX):
        if not naming.is_input(info.key, suffixes):
            continue  # the trigger ignores it: announcing it again would change nothing
        file_id = naming.file_id(info.key, info.version_id)
        if all(table.get({"file_id": file_id}) is None for table in tables):
            store.feed.commit(store.feed.begin(info.key), info)
            result.unrecorded.append(file_id)
            result.redriven.append(file_id)


def redrive_stale(*, epoch: int, store: RecordedObjectStore, table: Table) -> list[str]:
    """Re-announce each record of `table` (the active region's own) left unfinished under
    an epoch older than `epoch` whose input version is in `store`; returns their file ids.
    The trigger's claim takes each over under `epoch` (re-announcing twice is harmless),
    and the mail ledger keeps a file that had already been emailed to one email."""
    redriven: list[str] = []
    for status in FileStatus:
        if status.finished:
            continue
        for item in table.query("status", status.value):
            record = BatchFile.from_item(item)
            if record.epoch >= epoch:
                continue
            try:
                info = store.head(record.key)
            except ObjectNotFoundError:
                continue
            if info.version_id == record.version_id:
                store.feed.commit(store.feed.begin(record.key), info)
                redriven.append(record.file_id)
    return sorted(redriven)
