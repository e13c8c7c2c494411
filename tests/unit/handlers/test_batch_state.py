"""The batch-state record's transitions: conditional, epoch-fenced writes, and the record
type that round-trips through a table item."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from mrbatch.errors import ConditionFailedError
from mrbatch.handlers import batch_state
from mrbatch.handlers.payloads import ChunkCounts
from mrbatch.model import BatchFile, FileStatus
from mrbatch.ports import Item
from mrbatch.state import BATCH_STATE, MemoryTable

EAST, WEST = "us-east-1", "us-west-2"
FID = "input/a.csv#v1"
COUNTS: ChunkCounts = {"rowsRead": 3, "rowsWritten": 2, "rowsInvalid": 1, "rowsNotEnriched": 0}


def _claim(table: MemoryTable, region: str, epoch: int) -> BatchFile | None:
    return batch_state.claim(
        table, key="input/a.csv", version_id="v1", region=region, epoch=epoch, clock=lambda: 5.0
    )


def test_claim_creates_an_initialized_record() -> None:
    table = MemoryTable(BATCH_STATE)
    record = _claim(table, EAST, 1)
    assert record is not None
    assert table.get({"file_id": FID}) == {
        "file_id": FID, "key": "input/a.csv", "version_id": "v1", "status": "INITIALIZED",
        "region": EAST, "epoch": 1, "created_at": 5.0, "updated_at": 5.0, "event": {},
    }  # fmt: skip


def test_claim_under_a_newer_epoch_takes_over_and_an_older_one_does_not() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    batch_state.mark_running(table, FID, 1, chunks_total=4)
    taken = _claim(table, WEST, 2)
    assert taken is not None and (taken.status, taken.region, taken.epoch) == (
        FileStatus.INITIALIZED,
        WEST,
        2,
    )
    stale = _claim(table, EAST, 1)  # a late event of the old epoch changes nothing
    assert stale is not None and (stale.region, stale.epoch) == (WEST, 2)


def test_claim_of_a_finished_version_returns_none() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    batch_state.mark_failed(table, FID, 1, error="E", cause="bad header")
    assert _claim(table, WEST, 2) is None


def test_writes_of_an_older_epoch_are_refused() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    _claim(table, WEST, 2)
    with pytest.raises(ConditionFailedError):
        batch_state.mark_completed(table, FID, 1, region=EAST)
    with pytest.raises(ConditionFailedError):
        batch_state.record_merge(table, FID, 1, output="o", counts=COUNTS)
    assert table.get({"file_id": FID})["status"] == "INITIALIZED"  # type: ignore[index]


def test_a_run_goes_running_merged_completed() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    batch_state.mark_running(table, FID, 1, chunks_total=2)
    batch_state.record_merge(table, FID, 1, output="output/completed/v1/a.csv", counts=COUNTS)
    batch_state.mark_completed(table, FID, 1, region=EAST)
    record = BatchFile.from_item(table.get({"file_id": FID}) or {})
    assert (record.status, record.chunks_total, record.output, record.counts) == (
        FileStatus.COMPLETED,
        2,
        "output/completed/v1/a.csv",
        {"rowsRead": 3, "rowsWritten": 2, "rowsInvalid": 1, "rowsNotEnriched": 0},
    )
    assert record.completed_region == EAST and record.completed_at is not None
    assert BatchFile.from_item(record.to_item()) == record


def test_only_completed_and_failed_are_finished() -> None:
    assert [s.value for s in FileStatus if s.finished] == ["COMPLETED", "FAILED"]


def test_claim_records_the_event_that_announced_the_file() -> None:
    table = MemoryTable(BATCH_STATE)
    event = {"detail": {"object": {"key": "input/a.csv", "version-id": "v1"}}}
    batch_state.claim(
        table, key="input/a.csv", version_id="v1", region=EAST, epoch=1, event=event,
        clock=lambda: 5.0,
    )  # fmt: skip
    stored = table.get({"file_id": FID})
    assert stored is not None
    assert stored["event"] == {"detail": {"object": {"key": "input/a.csv", "version-id": "v1"}}}


def test_takeover_claim_keeps_the_creation_time_and_stamps_the_update() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)  # at 5.0
    batch_state.claim(
        table, key="input/a.csv", version_id="v1", region=WEST, epoch=2, clock=lambda: 7.0
    )
    assert table.get({"file_id": FID}) == {
        "file_id": FID, "key": "input/a.csv", "version_id": "v1", "status": "INITIALIZED",
        "region": WEST, "epoch": 2, "created_at": 5.0, "updated_at": 7.0, "event": {},
    }  # fmt: skip


class _NewerClaimLandsAfterRead(MemoryTable):
    """A batch-state table on which, right after the first read of the record, another
    region claims it under epoch 3: the interleaving of two claimers racing a takeover."""

    def __init__(self) -> None:
        super().__init__(BATCH_STATE)
        self.raced = False

    def get(self, key: Mapping[str, Any]) -> Item | None:
        found = super().get(key)
        if not self.raced:
            self.raced = True
            batch_state.claim(
                self, key="input/a.csv", version_id="v1", region=EAST, epoch=3,
                clock=lambda: 6.0,
            )  # fmt: skip
        return found


def test_takeover_claim_that_loses_a_race_leaves_the_newer_epoch_in_place() -> None:
    table = _NewerClaimLandsAfterRead()
    MemoryTable.put(table, BatchFile(
        file_id=FID, key="input/a.csv", version_id="v1", status=FileStatus.RUNNING,
        region=EAST, epoch=1, created_at=5.0, updated_at=5.0,
    ).to_item())  # fmt: skip
    record = _claim(table, WEST, 2)  # read epoch 1; epoch 3 claims before WEST writes
    assert record is not None and (record.status, record.region, record.epoch) == (
        FileStatus.INITIALIZED,
        EAST,
        3,
    )
    stored = table.get({"file_id": FID})
    assert stored is not None and (stored["region"], stored["epoch"]) == (EAST, 3)


def test_running_records_the_status_chunk_count_and_update_time() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    before = time.time()
    batch_state.mark_running(table, FID, 1, chunks_total=4)
    stored = table.get({"file_id": FID})
    assert stored is not None
    assert (stored["status"], stored["chunks_total"]) == ("RUNNING", 4)
    assert before <= stored["updated_at"] <= time.time() and stored["created_at"] == 5.0


def test_failed_records_the_error_and_cause() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    batch_state.mark_failed(table, FID, 1, error="InvalidHeader", cause="column 3 is 'amt'")
    record = BatchFile.from_item(table.get({"file_id": FID}) or {})
    assert (record.status, record.error, record.cause) == (
        FileStatus.FAILED,
        "InvalidHeader",
        "column 3 is 'amt'",
    )


def _record(key: str, status: FileStatus, region: str = EAST) -> BatchFile:
    return BatchFile(
        file_id=f"{key}#v1", key=key, version_id="v1", status=status, region=region,
        epoch=1, created_at=5.0, updated_at=5.0,
    )  # fmt: skip


def test_unfinished_files_are_initialized_or_running_in_any_table_by_file_id() -> None:
    east, west = MemoryTable(BATCH_STATE), MemoryTable(BATCH_STATE)
    east.put(_record("input/c.csv", FileStatus.RUNNING).to_item())
    east.put(_record("input/done.csv", FileStatus.COMPLETED).to_item())
    east.put(_record("input/bad.csv", FileStatus.FAILED).to_item())
    west.put(_record("input/a.csv", FileStatus.INITIALIZED, WEST).to_item())
    assert batch_state.unfinished_files([east, west]) == {
        "input/a.csv#v1": _record("input/a.csv", FileStatus.INITIALIZED, WEST),
        "input/c.csv#v1": _record("input/c.csv", FileStatus.RUNNING),
    }


def test_a_version_finished_in_one_table_is_not_unfinished_in_a_lagging_one() -> None:
    east, west = MemoryTable(BATCH_STATE), MemoryTable(BATCH_STATE)
    east.put(_record("input/a.csv", FileStatus.RUNNING).to_item())  # replication lags here
    west.put(_record("input/a.csv", FileStatus.COMPLETED, WEST).to_item())
    assert batch_state.unfinished_files([east, west]) == {}
    assert batch_state.unfinished_files([west, east]) == {}
