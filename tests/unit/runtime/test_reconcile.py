"""Reconciliation: unfinished files from both regions' tables are re-announced when their
input is in the new region, reported missing when not; inputs no table recorded are
re-announced too; repeated runs re-announce the same versions (the trigger makes that
idempotent)."""

from __future__ import annotations

from pathlib import Path

from mrbatch.handlers.batch_state import unfinished_files
from mrbatch.metrics.local import MemoryMetrics
from mrbatch.runtime.operations.reconcile import ReconcileResult, reconcile, redrive_stale
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.state import BATCH_STATE, MemoryTable
from mrbatch.storage.memory import MemoryObjectStore


def _item(key: str, version: str, status: str) -> dict[str, object]:
    return {"file_id": f"{key}#{version}", "key": key, "version_id": version, "status": status}


def test_unfinished_reads_both_tables_and_a_finished_copy_wins() -> None:
    east, west = MemoryTable(BATCH_STATE), MemoryTable(BATCH_STATE)
    east.put(_item("input/a.csv", "1", "RUNNING"))
    east.put(_item("input/b.csv", "1", "RUNNING"))
    west.put(_item("input/b.csv", "1", "COMPLETED"))  # west saw it finish; east lags
    west.put(_item("input/c.csv", "1", "INITIALIZED"))
    east.put(_item("input/d.csv", "1", "FAILED"))
    assert list(unfinished_files([east, west])) == ["input/a.csv#1", "input/c.csv#1"]


def test_reconcile_redrives_present_inputs_and_reports_missing(tmp_path: Path) -> None:
    table = MemoryTable(BATCH_STATE)
    store = RecordedObjectStore(MemoryObjectStore("west"), ChangeFeed(tmp_path / "feed.db"))
    here = store.put("input/here.csv", b"x")
    newer = store.put("input/old.csv", b"newer version")  # recorded by no table
    table.put(_item("input/here.csv", here.version_id, "RUNNING"))
    table.put(_item("input/old.csv", "not-replicated-yet", "RUNNING"))
    table.put(_item("input/absent.csv", "1", "INITIALIZED"))
    store.feed.ack("trigger", store.feed.read("trigger")[-1].seq)
    metrics = MemoryMetrics()

    result = reconcile(region="us-west-2", store=store, tables=[table], metrics=metrics)

    unrecorded = f"input/old.csv#{newer.version_id}"
    assert result.unrecorded == [unrecorded]
    assert result.redriven == [unrecorded, f"input/here.csv#{here.version_id}"]
    assert result.missing == ["input/absent.csv#1", "input/old.csv#not-replicated-yet"]
    events = [(e.key, e.version_id) for e in store.feed.read("trigger")]
    assert events == [("input/old.csv", newer.version_id), ("input/here.csv", here.version_id)]
    assert metrics.total("ReconciledFiles", region="us-west-2") == 2

    again = reconcile(region="us-west-2", store=store, tables=[table], metrics=metrics)
    assert again.redriven == result.redriven
    assert len(store.feed.read("trigger")) == 4


def _west(tmp_path: Path) -> RecordedObjectStore:
    return RecordedObjectStore(MemoryObjectStore("west"), ChangeFeed(tmp_path / "feed.db"))


def test_reconcile_goes_on_past_a_version_that_has_not_replicated(tmp_path: Path) -> None:
    table, store = MemoryTable(BATCH_STATE), _west(tmp_path)
    newer = store.put("input/a.csv", b"newer")  # the bucket has another version than the record's
    later = store.put("input/b.csv", b"b")
    table.put(_item("input/a.csv", "old", "RUNNING"))
    table.put(_item("input/b.csv", later.version_id, "RUNNING"))

    result = reconcile(region="us-west-2", store=store, tables=[table], metrics=MemoryMetrics())

    unrecorded = f"input/a.csv#{newer.version_id}"  # no table has an item for it
    assert result == ReconcileResult(
        "us-west-2",
        redriven=[unrecorded, f"input/b.csv#{later.version_id}"],
        missing=["input/a.csv#old"],
        unrecorded=[unrecorded],
    )


def test_unrecorded_objects_that_are_not_inputs_are_not_announced(tmp_path: Path) -> None:
    store = _west(tmp_path)
    store.put("input/a-notes.txt", b"not a csv")  # listed first: the trigger ignores it
    csv = store.put("input/b.csv", b"b")
    result = reconcile(
        region="us-west-2", store=store, tables=[MemoryTable(BATCH_STATE)], metrics=MemoryMetrics()
    )
    assert result.unrecorded == [f"input/b.csv#{csv.version_id}"]


def test_reconcile_announces_the_configured_suffixes_only(tmp_path: Path) -> None:
    store = _west(tmp_path)
    txt = store.put("input/a.txt", b"a")
    store.put("input/b.csv", b"b")
    result = reconcile(
        region="us-west-2", store=store, tables=[MemoryTable(BATCH_STATE)],
        metrics=MemoryMetrics(), suffixes=(".txt",),
    )  # fmt: skip
    assert (result.region, result.unrecorded) == ("us-west-2", [f"input/a.txt#{txt.version_id}"])


def test_stale_claims_that_arrive_after_the_takeover_are_redriven(tmp_path: Path) -> None:
    """Torture seed 346705521: a claim made by the old region on its stale copy replicates
    in after the new epoch was reconciled; only records of an older epoch are re-announced,
    and only when their version is in the bucket."""
    table = MemoryTable(BATCH_STATE)
    store = _west(tmp_path)
    stale = store.put("input/stale.csv", b"x")
    current = store.put("input/current.csv", b"y")
    done = store.put("input/done.csv", b"z")
    table.put({**_item("input/stale.csv", stale.version_id, "INITIALIZED"), "epoch": 2})
    table.put({**_item("input/current.csv", current.version_id, "RUNNING"), "epoch": 3})
    table.put({**_item("input/done.csv", done.version_id, "COMPLETED"), "epoch": 1})
    table.put({**_item("input/gone.csv", "v9", "RUNNING"), "epoch": 1})
    store.feed.ack("trigger", store.feed.read("trigger")[-1].seq)

    redriven = redrive_stale(epoch=3, store=store, table=table)

    assert redriven == [f"input/stale.csv#{stale.version_id}"]
    events = [(e.key, e.version_id) for e in store.feed.read("trigger")]
    assert events == [("input/stale.csv", stale.version_id)]
