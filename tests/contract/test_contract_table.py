"""The Table contract: memory, SQLite and DynamoDB (moto) must all pass every test (the
thread races run where atomicity can be exercised locally: see `atomic_batch`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mrbatch.errors import ConditionFailedError, TableError
from mrbatch.ports import Condition, Table
from mrbatch.state import BATCH_STATE, ERRORS, MemoryTable, SqliteDatabase, SqliteTable, TableSpec

CREATE_ONLY = Condition(absent=("file_id",))


@pytest.fixture
def batch(table_factory: Callable[[TableSpec], Table]) -> Table:
    return table_factory(BATCH_STATE)


@pytest.fixture(params=["memory", "sqlite"])
def atomic_batch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Table]:
    """A batch-state table of a backend whose atomicity can be exercised here.

    The races below need the backend's conditional writes to be atomic. DynamoDB's are,
    but moto (its local stand-in) checks a condition and writes without any lock, so two
    threads can both pass: a race test against moto would test moto, and fail at random.
    The DynamoDB backend's condition semantics are covered single-threaded above."""
    if request.param == "memory":
        yield MemoryTable(BATCH_STATE)
        return
    db = SqliteDatabase(tmp_path / "atomic.db")
    yield SqliteTable(db, BATCH_STATE, origin="us-east-1")
    db.close()


@pytest.fixture
def errors(table_factory: Callable[[TableSpec], Table]) -> Table:
    return table_factory(ERRORS)


def test_names_come_from_the_spec(batch: Table, errors: Table) -> None:
    assert (batch.name, batch.key_names) == ("batch_state", ("file_id",))
    assert (errors.name, errors.key_names) == ("errors", ("file_id", "row"))


def test_put_then_get_returns_equal_item(batch: Table) -> None:
    item: dict[str, Any] = {
        "file_id": "input/ä.csv#v1",
        "status": "RUNNING",
        "epoch": 3,
        "ratio": 0.25,
        "done": True,
        "note": None,
        "chunks": [1, 2, {"k": "v"}],
        "event": {"bucket": "b", "size": 10, "nested": {"x": [1.5]}},
        "empty": "",
    }
    batch.put(item)
    assert batch.get({"file_id": "input/ä.csv#v1"}) == item


def test_get_missing_returns_none(batch: Table) -> None:
    assert batch.get({"file_id": "nope"}) is None


def test_returned_items_are_copies(batch: Table) -> None:
    item = {"file_id": "f", "chunks": [1]}
    batch.put(item)
    item["chunks"].append(2)
    got = batch.get({"file_id": "f"})
    assert got == {"file_id": "f", "chunks": [1]}
    assert got is not None
    got["chunks"].append(3)
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "chunks": [1]}


def test_put_replaces_the_whole_item(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "INITIALIZED", "old": 1})
    batch.put({"file_id": "f", "status": "RUNNING"})
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "status": "RUNNING"}


def test_create_only_put_fails_when_present(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "INITIALIZED"}, condition=CREATE_ONLY)
    with pytest.raises(ConditionFailedError):
        batch.put({"file_id": "f", "status": "OTHER"}, condition=CREATE_ONLY)
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "status": "INITIALIZED"}


def test_equals_condition(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "INITIALIZED"})
    running = {"file_id": "f", "status": "RUNNING"}
    batch.put(running, condition=Condition(equals={"status": "INITIALIZED"}))
    with pytest.raises(ConditionFailedError):
        batch.put(
            {"file_id": "f", "status": "X"}, condition=Condition(equals={"status": "INITIALIZED"})
        )
    with pytest.raises(ConditionFailedError):
        batch.put({"file_id": "g"}, condition=Condition(equals={"status": "INITIALIZED"}))
    assert batch.get({"file_id": "f"}) == running
    assert batch.get({"file_id": "g"}) is None


def test_equals_does_not_confuse_true_and_one(batch: Table) -> None:
    batch.put({"file_id": "f", "flag": 1})
    with pytest.raises(ConditionFailedError):
        batch.update({"file_id": "f"}, {"x": 1}, condition=Condition(equals={"flag": True}))


def test_at_most_fences_by_epoch(batch: Table) -> None:
    batch.put({"file_id": "new", "epoch": 1}, condition=Condition(at_most={"epoch": 5}))
    batch.put({"file_id": "f", "epoch": 5})
    batch.put({"file_id": "f", "epoch": 5, "by": "same"}, condition=Condition(at_most={"epoch": 5}))
    batch.put(
        {"file_id": "f", "epoch": 6, "by": "newer"}, condition=Condition(at_most={"epoch": 6})
    )
    with pytest.raises(ConditionFailedError):
        batch.put(
            {"file_id": "f", "epoch": 5, "by": "stale"}, condition=Condition(at_most={"epoch": 5})
        )
    batch.put({"file_id": "no-epoch"})
    batch.update({"file_id": "no-epoch"}, {"epoch": 2}, condition=Condition(at_most={"epoch": 2}))
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "epoch": 6, "by": "newer"}
    assert batch.get({"file_id": "no-epoch"}) == {"file_id": "no-epoch", "epoch": 2}


def test_combined_clauses_must_all_hold(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "RUNNING", "epoch": 2})
    both = Condition(equals={"status": "RUNNING"}, at_most={"epoch": 1}, absent=("done",))
    with pytest.raises(ConditionFailedError):
        batch.update({"file_id": "f"}, {"status": "COMPLETED"}, condition=both)
    ok = Condition(equals={"status": "RUNNING"}, at_most={"epoch": 2}, absent=("done",))
    assert batch.update({"file_id": "f"}, {"done": True}, condition=ok)["done"] is True


def test_update_creates_missing_item(batch: Table) -> None:
    new = batch.update({"file_id": "f"}, {"status": "INITIALIZED", "epoch": 1})
    assert new == {"file_id": "f", "status": "INITIALIZED", "epoch": 1}
    assert batch.get({"file_id": "f"}) == new


def test_update_merges_and_returns_new_item(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "RUNNING", "chunks": 4})
    new = batch.update({"file_id": "f"}, {"status": "COMPLETED", "ratio": 0.5})
    expected = {"file_id": "f", "status": "COMPLETED", "chunks": 4, "ratio": 0.5}
    assert new == expected
    assert batch.get({"file_id": "f"}) == expected


def test_failed_update_changes_nothing(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "COMPLETED"})
    with pytest.raises(ConditionFailedError):
        batch.update(
            {"file_id": "f"},
            {"status": "RUNNING"},
            condition=Condition(equals={"status": "INITIALIZED"}),
        )
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "status": "COMPLETED"}


@pytest.mark.parametrize("changes", [{}, {"file_id": "other"}], ids=["empty", "key"])
def test_update_refuses_empty_or_key_changes(batch: Table, changes: dict[str, Any]) -> None:
    with pytest.raises(TableError):
        batch.update({"file_id": "f"}, changes)
    assert batch.get({"file_id": "f"}) is None


def test_delete_is_idempotent_and_conditional(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "RUNNING"})
    with pytest.raises(ConditionFailedError):
        batch.delete({"file_id": "f"}, condition=Condition(equals={"status": "COMPLETED"}))
    assert batch.get({"file_id": "f"}) is not None
    batch.delete({"file_id": "f"}, condition=Condition(equals={"status": "RUNNING"}))
    batch.delete({"file_id": "f"})
    assert batch.get({"file_id": "f"}) is None
    assert list(batch.scan()) == []


def test_deleted_item_can_be_created_again(batch: Table) -> None:
    batch.put({"file_id": "f", "n": 1}, condition=CREATE_ONLY)
    batch.delete({"file_id": "f"})
    batch.put({"file_id": "f", "n": 2}, condition=CREATE_ONLY)
    assert batch.get({"file_id": "f"}) == {"file_id": "f", "n": 2}


def test_query_by_index_crosses_pages(batch: Table) -> None:
    for n in range(10):
        batch.put({"file_id": f"f{n:02d}", "status": "RUNNING" if n % 3 else "COMPLETED"})
    running = sorted(item["file_id"] for item in batch.query("status", "RUNNING"))
    completed = sorted(item["file_id"] for item in batch.query("status", "COMPLETED"))
    assert running == ["f01", "f02", "f04", "f05", "f07", "f08"]
    assert completed == ["f00", "f03", "f06", "f09"]
    assert list(batch.query("status", "FAILED")) == []


def test_query_sees_status_changes(batch: Table) -> None:
    batch.put({"file_id": "f", "status": "RUNNING"})
    batch.update({"file_id": "f"}, {"status": "COMPLETED"})
    assert list(batch.query("status", "RUNNING")) == []
    assert [i["file_id"] for i in batch.query("status", "COMPLETED")] == ["f"]


def test_query_by_partition_key_orders_by_numeric_sort_key(errors: Table) -> None:
    for row in [10, 2, 1, 33, 4]:
        errors.put({"file_id": "a.csv", "row": row, "field": "Country"})
    errors.put({"file_id": "b.csv", "row": 1, "field": "uuid"})
    rows = [item["row"] for item in errors.query("file_id", "a.csv")]
    assert rows == [1, 2, 4, 10, 33]
    assert [item["row"] for item in errors.query("file_id", "b.csv")] == [1]


def test_query_unknown_index_is_refused(batch: Table) -> None:
    with pytest.raises(TableError):
        batch.query("colour", "red")


def test_scan_returns_everything_across_pages(errors: Table) -> None:
    expected = {(f"f{n}", row) for n in range(4) for row in range(3)}
    for file_id, row in expected:
        errors.put({"file_id": file_id, "row": row})
    scanned = [(item["file_id"], item["row"]) for item in errors.scan()]
    assert sorted(scanned) == sorted(expected)
    assert len(scanned) == 12


@pytest.mark.parametrize(
    "key",
    [{}, {"file_id": ""}, {"file_id": 3}, {"other": "x"}],
    ids=["missing", "empty", "number", "wrong-name"],
)
def test_bad_keys_are_refused(batch: Table, key: dict[str, Any]) -> None:
    with pytest.raises(TableError):
        batch.get(key)
    with pytest.raises(TableError):
        batch.put({**key, "status": "x"})


@pytest.mark.parametrize("row", ["3", True, None, float("nan")], ids=repr)
def test_numeric_sort_key_must_be_a_number(errors: Table, row: Any) -> None:
    with pytest.raises(TableError):
        errors.put({"file_id": "f", "row": row})


@pytest.mark.parametrize(
    "value", [{1, 2}, b"bytes", float("inf"), object()], ids=["set", "bytes", "inf", "object"]
)
def test_values_that_cannot_be_stored_are_refused(batch: Table, value: Any) -> None:
    with pytest.raises(TableError):
        batch.put({"file_id": "f", "value": value})
    assert batch.get({"file_id": "f"}) is None


def test_create_only_race_from_threads_has_one_winner(atomic_batch: Table) -> None:
    batch = atomic_batch
    barrier = threading.Barrier(8)
    winners: list[int] = []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            batch.put({"file_id": "race", "writer": n}, condition=CREATE_ONLY)
            winners.append(n)
        except ConditionFailedError:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert batch.get({"file_id": "race"}) == {"file_id": "race", "writer": winners[0]}


def test_compare_and_set_counter_from_threads_loses_no_increment(atomic_batch: Table) -> None:
    batch = atomic_batch
    batch.put({"file_id": "counter", "n": 0})

    def increment_times(times: int) -> None:
        for _ in range(times):
            while True:
                current = batch.get({"file_id": "counter"})
                assert current is not None
                try:
                    batch.update(
                        {"file_id": "counter"},
                        {"n": current["n"] + 1},
                        condition=Condition(equals={"n": current["n"]}),
                    )
                    break
                except ConditionFailedError:
                    continue

    threads = [threading.Thread(target=increment_times, args=(10,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert batch.get({"file_id": "counter"}) == {"file_id": "counter", "n": 40}


def test_query_while_updating_visits_each_item_once(batch: Table) -> None:
    for n in range(10):
        batch.put({"file_id": f"f{n}", "status": "RUNNING"})
    visited = []
    for item in batch.query("status", "RUNNING"):
        visited.append(item["file_id"])
        batch.update({"file_id": item["file_id"]}, {"status": "COMPLETED"})
    assert sorted(visited) == sorted(f"f{n}" for n in range(10))
    assert list(batch.query("status", "RUNNING")) == []
