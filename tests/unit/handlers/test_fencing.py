"""Fencing in the handlers: work may commit only while its region is active under exactly
the epoch it started under. Both halves matter: a region that lost activation must stop,
and so must a region that became active again (A -> B -> A) while its old work still runs:
that work belongs to epoch 1, the file is now driven under epoch 3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.errors import FencedError
from mrbatch.handlers.fencing import check_fence, holds
from mrbatch.handlers.payloads import ExecutionEnd
from mrbatch.handlers.region import Region, set_current_region
from mrbatch.handlers.steps import email_the_file, record_execution_end
from mrbatch.metrics.local import MemoryMetrics
from mrbatch.notify.memory import MemoryNotifier
from mrbatch.pipeline import CsvFinancialSource, load_rules
from mrbatch.routing.local import MemoryRoutingControl
from mrbatch.state import BATCH_STATE, ERRORS, MemoryTable
from mrbatch.storage import MemoryObjectStore

EAST, WEST = "us-east-1", "us-west-2"
SAMPLE = Path(__file__).parents[2] / "data" / "aws-sample"


@pytest.fixture
def region() -> Iterator[Region]:
    region = Region(
        name=EAST,
        store=MemoryObjectStore("east"),
        batch_state=MemoryTable(BATCH_STATE),
        errors=MemoryTable(ERRORS),
        routing=MemoryRoutingControl([EAST, WEST]),
        notifier=MemoryNotifier(),
        metrics=MemoryMetrics(),
        financials=CsvFinancialSource.from_path(SAMPLE / "testfile_financial_data.csv"),
        rules=load_rules(),
        chunk_size=100,
        sender="mrbatch@example.com",
        recipients=("owner@example.com",),
        presign=lambda key: (f"http://127.0.0.1:9/{key}", 60),
    )
    set_current_region(region)
    yield region
    set_current_region(None)


def _email_event(epoch: int) -> dict[str, object]:
    counts = {"rowsRead": 1, "rowsWritten": 1, "rowsInvalid": 0, "rowsNotEnriched": 0}
    return {
        "fileId": "input/a.csv#v1", "key": "input/a.csv", "versionId": "v1", "epoch": epoch,
        "region": EAST,
        "merge": {"output": "output/completed/v1/a.csv", "errors": "output/errors/v1/a.csv",
                  "counts": counts},
    }  # fmt: skip


def test_fence_passes_for_the_active_region_under_its_epoch(region: Region) -> None:
    check_fence(region, 1)


def test_fence_stops_a_region_that_lost_activation(region: Region) -> None:
    region.routing.set_active(WEST, "failover")
    with pytest.raises(FencedError, match="us-west-2 is active under epoch 2"):
        check_fence(region, 1)


def test_fence_stops_old_work_of_a_region_active_again(region: Region) -> None:
    region.routing.set_active(WEST, "failover")
    region.routing.set_active(EAST, "failback")  # EAST is active again, under epoch 3
    with pytest.raises(FencedError, match="epoch 1"):
        check_fence(region, 1)
    check_fence(region, 3)


def test_holds_only_for_the_active_region_under_exactly_its_epoch(region: Region) -> None:
    assert holds(region, 1) is True
    region.routing.set_active(WEST, "failover")  # epoch 2, WEST active
    assert (holds(region, 1), holds(region, 2)) == (False, False)
    region.routing.set_active(EAST, "failback")  # epoch 3, EAST active again
    assert (holds(region, 1), holds(region, 3)) == (False, True)


def test_old_epoch_email_is_not_sent_after_failover_and_failback(region: Region) -> None:
    region.batch_state.put(
        {"file_id": "input/a.csv#v1", "key": "input/a.csv", "status": "RUNNING", "epoch": 3}
    )
    region.routing.set_active(WEST, "failover")
    region.routing.set_active(EAST, "failback")
    with pytest.raises(FencedError):
        email_the_file(_email_event(1))
    notifier = region.notifier
    assert isinstance(notifier, MemoryNotifier) and notifier.sent == {}
    assert region.batch_state.get({"file_id": "input/a.csv#v1"})["status"] == "RUNNING"  # type: ignore[index]
    email_the_file(_email_event(3))  # the run of the current epoch completes the file
    assert list(notifier.sent) == ["input/a.csv#v1"]
    assert region.batch_state.get({"file_id": "input/a.csv#v1"})["status"] == "COMPLETED"  # type: ignore[index]


def _ended(epoch: int, error: str = "FencedError") -> ExecutionEnd:
    run = {"fileId": "input/a.csv#v1", "key": "input/a.csv", "versionId": "v1", "epoch": epoch}
    return {
        "executionArn": "arn:aws:states:us-east-1:1:execution:main:a-e1", "name": "a-e1",
        "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:main",
        "status": "FAILED", "error": error, "cause": "fenced", "input": json.dumps(run),
    }  # fmt: skip


def test_a_run_that_failed_after_losing_its_epoch_does_not_fail_the_file(region: Region) -> None:
    # the old region's run failed (e.g. its fenced "Record the failed file") before the
    # new active region claimed the file: the file must stay unfinished for the takeover
    region.batch_state.put({"file_id": "input/a.csv#v1", "status": "RUNNING", "epoch": 1})
    region.routing.set_active(WEST, "failover")
    assert record_execution_end(region, _ended(1)) is False
    assert region.batch_state.get({"file_id": "input/a.csv#v1"})["status"] == "RUNNING"  # type: ignore[index]
    notifier = region.notifier
    assert isinstance(notifier, MemoryNotifier) and notifier.sent == {}


def test_a_run_that_failed_under_the_current_epoch_fails_the_file_once(region: Region) -> None:
    region.batch_state.put({"file_id": "input/a.csv#v1", "status": "RUNNING", "epoch": 1})
    assert record_execution_end(region, _ended(1, error="States.Runtime")) is True
    item = region.batch_state.get({"file_id": "input/a.csv#v1"})
    assert item is not None and (item["status"], item["error"]) == ("FAILED", "States.Runtime")
    notifier = region.notifier
    assert isinstance(notifier, MemoryNotifier) and list(notifier.sent) == ["input/a.csv#v1#failed"]
