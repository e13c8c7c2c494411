"""The batch-state record's transitions: conditional, epoch-fenced writes, and the record
type that round-trips through a table item."""

from __future__ import annotations

import pytest

from mrbatch.errors import ConditionFailedError
from mrbatch.handlers import batch_state
from mrbatch.model import BatchFile, FileStatus
from mrbatch.state import BATCH_STATE, MemoryTable

EAST, WEST = "us-east-1", "us-west-2"
FID = "input/a.csv#v1"


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
        batch_state.record_merge(table, FID, 1, output="o", counts={"rowsRead": 1})
    assert table.get({"file_id": FID})["status"] == "INITIALIZED"  # type: ignore[index]


def test_a_run_goes_running_merged_completed() -> None:
    table = MemoryTable(BATCH_STATE)
    _claim(table, EAST, 1)
    batch_state.mark_running(table, FID, 1, chunks_total=2)
    batch_state.record_merge(table, FID, 1, output="output/completed/v1/a.csv", counts={"r": 3})
    batch_state.mark_completed(table, FID, 1, region=EAST)
    record = BatchFile.from_item(table.get({"file_id": FID}) or {})
    assert (record.status, record.chunks_total, record.output, record.counts) == (
        FileStatus.COMPLETED,
        2,
        "output/completed/v1/a.csv",
        {"r": 3},
    )
    assert record.completed_region == EAST and record.completed_at is not None
    assert BatchFile.from_item(record.to_item()) == record


def test_only_completed_and_failed_are_finished() -> None:
    assert [s.value for s in FileStatus if s.finished] == ["COMPLETED", "FAILED"]
