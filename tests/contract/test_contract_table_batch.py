"""The Table contract for batches (`get_many`, `put_many`): memory, SQLite and DynamoDB (moto).

DynamoDB's batch APIs take 100 keys (BatchGetItem) and 25 items (BatchWriteItem) per request
and refuse duplicate keys in one request, so the sizes below cross those limits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from mrbatch.errors import TableError
from mrbatch.ports import Table
from mrbatch.state import (
    BATCH_STATE,
    ERRORS,
    DynamoDBTable,
    SqliteDatabase,
    SqliteTable,
    TableSpec,
    create_dynamodb_table,
)


@pytest.fixture
def batch(table_factory: Callable[[TableSpec], Table]) -> Table:
    return table_factory(BATCH_STATE)


@pytest.fixture
def errors(table_factory: Callable[[TableSpec], Table]) -> Table:
    return table_factory(ERRORS)


def _files(*names: str) -> list[dict[str, Any]]:
    return [{"file_id": name, "status": "RUNNING", "n": len(name)} for name in names]


def test_get_many_returns_items_in_key_order_skipping_missing(batch: Table) -> None:
    for item in _files("a", "bb", "ccc"):
        batch.put(item)
    keys = [{"file_id": name} for name in ("ccc", "nope", "a", "bb", "gone")]
    assert batch.get_many(keys) == [
        {"file_id": "ccc", "status": "RUNNING", "n": 3},
        {"file_id": "a", "status": "RUNNING", "n": 1},
        {"file_id": "bb", "status": "RUNNING", "n": 2},
    ]


def test_get_many_of_no_keys_or_only_missing_ones_is_empty(batch: Table) -> None:
    batch.put({"file_id": "a"})
    assert batch.get_many([]) == []
    assert batch.get_many([{"file_id": "x"}, {"file_id": "y"}]) == []


def test_get_many_accepts_whole_items_as_keys(batch: Table) -> None:
    batch.put({"file_id": "a", "status": "COMPLETED"})
    assert batch.get_many([{"file_id": "a", "status": "other"}]) == [
        {"file_id": "a", "status": "COMPLETED"}
    ]


def test_get_many_repeats_an_item_for_a_repeated_key_as_separate_copies(batch: Table) -> None:
    batch.put({"file_id": "a", "chunks": [1]})
    batch.put({"file_id": "b", "chunks": [2]})
    got = batch.get_many([{"file_id": "a"}, {"file_id": "b"}, {"file_id": "a"}])
    assert got == [
        {"file_id": "a", "chunks": [1]},
        {"file_id": "b", "chunks": [2]},
        {"file_id": "a", "chunks": [1]},
    ]
    got[0]["chunks"].append(9)
    assert got[2] == {"file_id": "a", "chunks": [1]}
    assert batch.get({"file_id": "a"}) == {"file_id": "a", "chunks": [1]}


def test_get_many_pages_past_100_keys(batch: Table) -> None:
    batch.put_many(_files(*(f"f{n:03d}" for n in range(250))))
    names = [f"f{n:03d}" for n in reversed(range(0, 260, 2))]  # 130 keys, 5 missing
    got = batch.get_many([{"file_id": name} for name in names])
    assert [item["file_id"] for item in got] == [name for name in names if name < "f250"]
    assert got[0] == {"file_id": "f248", "status": "RUNNING", "n": 4}


def test_get_many_with_sort_keys(errors: Table) -> None:
    errors.put_many([{"file_id": f, "row": row, "rule": "r"} for f in "ab" for row in range(1, 4)])
    keys = [{"file_id": "b", "row": 3}, {"file_id": "a", "row": 9}, {"file_id": "a", "row": 1}]
    assert errors.get_many(keys) == [
        {"file_id": "b", "row": 3, "rule": "r"},
        {"file_id": "a", "row": 1, "rule": "r"},
    ]


def test_get_many_returns_every_item_past_16_mb(batch: Table) -> None:
    """DynamoDB answers at most 16 MB per BatchGetItem, leaving the rest unprocessed."""
    blob = "x" * 300_000
    batch.put_many([{"file_id": f"big{n:02d}", "blob": blob} for n in range(60)])
    got = batch.get_many([{"file_id": f"big{n:02d}"} for n in reversed(range(60))])
    assert [item["file_id"] for item in got] == [f"big{n:02d}" for n in reversed(range(60))]
    assert all(item["blob"] == blob for item in got)


@pytest.mark.parametrize(
    "key", [{}, {"file_id": ""}, {"file_id": 3}], ids=["missing", "empty", "number"]
)
def test_get_many_refuses_a_bad_key(batch: Table, key: dict[str, Any]) -> None:
    batch.put({"file_id": "a"})
    with pytest.raises(TableError):
        batch.get_many([{"file_id": "a"}, key])


def test_put_many_writes_more_than_25_items(errors: Table) -> None:
    rows = [{"file_id": "f.csv", "row": row, "field": f"c{row}"} for row in range(60, 0, -1)]
    errors.put_many(rows)
    assert list(errors.query("file_id", "f.csv")) == sorted(rows, key=lambda r: r["row"])


def test_put_many_replaces_whole_items_and_the_last_duplicate_wins(batch: Table) -> None:
    batch.put({"file_id": "a", "status": "INITIALIZED", "old": 1})
    batch.put_many(
        [
            {"file_id": "a", "status": "RUNNING"},
            {"file_id": "b", "status": "FIRST"},
            {"file_id": "b", "status": "LAST"},
        ]
    )
    assert sorted(batch.scan(), key=lambda i: i["file_id"]) == [
        {"file_id": "a", "status": "RUNNING"},
        {"file_id": "b", "status": "LAST"},
    ]
    assert [i["file_id"] for i in batch.query("status", "LAST")] == ["b"]


def test_put_many_of_nothing_writes_nothing(batch: Table) -> None:
    batch.put_many([])
    assert list(batch.scan()) == []


@pytest.mark.parametrize(
    "bad",
    [{"status": "no key"}, {"file_id": ""}, {"file_id": "x", "v": {1, 2}}, "not a dict"],
    ids=["missing-key", "empty-key", "set-value", "not-a-dict"],
)
def test_put_many_refuses_a_bad_item_and_writes_nothing(batch: Table, bad: Any) -> None:
    good = [{"file_id": f"g{n:02d}"} for n in range(30)]
    with pytest.raises(TableError):
        batch.put_many([*good, bad])
    assert list(batch.scan()) == []


def test_put_many_items_are_copied(batch: Table) -> None:
    item: dict[str, Any] = {"file_id": "a", "chunks": [1]}
    batch.put_many([item])
    item["chunks"].append(2)
    assert batch.get({"file_id": "a"}) == {"file_id": "a", "chunks": [1]}


# --- backend-specific: what the contract rests on ----------------------------------------


def test_sqlite_put_many_feeds_every_item_to_replication(tmp_path: Path) -> None:
    """Each item of a put_many gets its own clock stamp and feed position, as single puts
    do, so the table replicator copies every one to the peer region."""
    east_db, west_db = SqliteDatabase(tmp_path / "e.db"), SqliteDatabase(tmp_path / "w.db")
    try:
        east = SqliteTable(east_db, ERRORS, origin="us-east-1", clock=lambda: 1000.0)
        west = SqliteTable(west_db, ERRORS, origin="us-west-2", page_size=2)
        east.put({"file_id": "f", "row": 1, "v": "single"})
        assert [(c.seq, c.updated_at) for c in east.changes_since(0)] == [(1, 1_000_000_000)]
        east.put_many([{"file_id": "f", "row": row, "v": "many"} for row in (3, 2, 1)])
        feed = east.changes_since(1)
        assert [(c.key["row"], c.seq, c.updated_at) for c in feed] == [
            (3, 2, 1_000_000_001),
            (2, 3, 1_000_000_002),
            (1, 4, 1_000_000_003),
        ]
        assert east.changes_since(0) == feed  # row 1's single put was replaced
        assert {c.origin for c in feed} == {"us-east-1"}
        assert [west.apply_replica(c) for c in east.changes_since(0)] == [True, True, True]
        assert list(west.scan()) == list(east.scan())
        assert [item["v"] for item in west.scan()] == ["many", "many", "many"]
    finally:
        east_db.close()
        west_db.close()


def test_dynamodb_get_many_backs_off_before_retrying_unprocessed_keys(aws: None) -> None:
    """moto, like DynamoDB, leaves keys unprocessed past 16 MB of items in one response."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_dynamodb_table(client, BATCH_STATE)
    waits: list[float] = []
    table = DynamoDBTable(client, BATCH_STATE, sleep=waits.append)
    blob = "y" * 380_000
    table.put_many([{"file_id": f"big{n:02d}", "blob": blob} for n in range(100)])
    got = table.get_many([{"file_id": f"big{n:02d}"} for n in range(100)])
    assert [item["file_id"] for item in got] == [f"big{n:02d}" for n in range(100)]
    assert waits == [0.05, 0.05]  # 100 x 380 kB: three responses of at most 16 MB each
