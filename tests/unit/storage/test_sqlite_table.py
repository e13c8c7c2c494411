"""SqliteTable specifics: the replication hooks (clock, change feed, last writer wins),
the region database helper, and several processes writing conditionally at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mrbatch.errors import TableError
from mrbatch.ports import Condition
from mrbatch.state import (
    BATCH_STATE,
    FINANCIALS,
    SqliteDatabase,
    SqliteTable,
    TableChange,
    open_region_tables,
)


class StepClock:
    """A wall clock the test moves by hand (seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, name: str, clock: StepClock, page_size: int = 2) -> SqliteTable:
    db = SqliteDatabase(tmp_path / f"{name}.db")
    return SqliteTable(db, BATCH_STATE, origin=name, clock=clock, page_size=page_size)


def test_change_feed_lists_latest_write_per_item_with_cursor(tmp_path: Path) -> None:
    clock = StepClock(100.0)
    table = make(tmp_path, "east", clock)
    table.put({"file_id": "a", "status": "INITIALIZED"})
    table.put({"file_id": "b", "status": "INITIALIZED"})
    table.update({"file_id": "a"}, {"status": "RUNNING"})
    table.delete({"file_id": "b"})
    changes = table.changes_since(0)
    assert [(c.key, c.item, c.origin, c.seq) for c in changes] == [
        ({"file_id": "a"}, {"file_id": "a", "status": "RUNNING"}, "east", 3),
        ({"file_id": "b"}, None, "east", 4),
    ]
    assert table.changes_since(3) == changes[1:]
    assert table.changes_since(4) == []


def test_hybrid_clock_never_goes_backwards(tmp_path: Path) -> None:
    clock = StepClock(100.0)
    table = make(tmp_path, "east", clock)
    table.put({"file_id": "a"})
    clock.now = 50.0  # the wall clock jumps back
    table.put({"file_id": "b"})
    stamps = [c.updated_at for c in table.changes_since(0)]
    assert stamps == [100_000_000, 100_000_001]


def test_last_writer_wins_whatever_the_order(tmp_path: Path) -> None:
    east_clock, west_clock = StepClock(100.0), StepClock(200.0)
    east, west = make(tmp_path, "east", east_clock), make(tmp_path, "west", west_clock)
    east.put({"file_id": "f", "status": "RUNNING"})  # older
    west.put({"file_id": "f", "status": "COMPLETED"})  # newer
    older, newer = east.changes_since(0)[0], west.changes_since(0)[0]
    assert east.apply_replica(newer) is True
    assert west.apply_replica(older) is False
    assert east.apply_replica(newer) is False  # idempotent
    assert (
        east.get({"file_id": "f"})
        == west.get({"file_id": "f"})
        == {
            "file_id": "f",
            "status": "COMPLETED",
        }
    )
    # east's clock moved past what it saw: its next write wins even with a slow wall clock
    east.update({"file_id": "f"}, {"status": "FAILED"})
    assert west.apply_replica(east.changes_since(0)[-1]) is True
    assert west.get({"file_id": "f"}) == {"file_id": "f", "status": "FAILED"}


def test_replicated_delete_is_not_undone_by_older_write(tmp_path: Path) -> None:
    clock = StepClock(100.0)
    east, west = make(tmp_path, "east", clock), make(tmp_path, "west", StepClock(1.0))
    west.put({"file_id": "f", "status": "OLD"})
    east.put({"file_id": "f", "status": "X"})
    east.delete({"file_id": "f"})
    assert west.apply_replica(east.changes_since(0)[-1]) is True
    assert west.get({"file_id": "f"}) is None
    stale = TableChange({"file_id": "f"}, {"file_id": "f", "status": "OLD"}, 5, "west", 1)
    assert west.apply_replica(stale) is False
    assert list(west.scan()) == []


def test_equal_stamps_are_broken_by_origin(tmp_path: Path) -> None:
    table = make(tmp_path, "east", StepClock(1.0))
    a = TableChange({"file_id": "f"}, {"file_id": "f", "v": "a"}, 7, "us-east-1", 1)
    b = TableChange({"file_id": "f"}, {"file_id": "f", "v": "b"}, 7, "us-west-2", 1)
    assert table.apply_replica(b) is True
    assert table.apply_replica(a) is False
    assert table.get({"file_id": "f"}) == {"file_id": "f", "v": "b"}


def test_region_database_has_three_tables_in_wal_mode(tmp_path: Path) -> None:
    region = open_region_tables(tmp_path / "us-east-1" / "state.db", origin="us-east-1")
    assert [t.name for t in (region.batch_state, region.errors, region.financials)] == [
        "batch_state",
        "errors",
        "financials",
    ]
    assert region.errors.key_names == ("file_id", "row")
    region.financials.put({"uuid": "u1", "Unit Price": 9.5})
    region.close()
    conn = sqlite3.connect(tmp_path / "us-east-1" / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "batch_state__status" in indexes
    conn.close()


def test_put_many_json_writes_items_with_a_stamp_and_feed_position_each(tmp_path: Path) -> None:
    clock = StepClock(100.0)
    region = open_region_tables(tmp_path / "e.db", origin="east")
    table = SqliteTable(region.db, FINANCIALS, origin="east", clock=clock)
    table.put({"uuid": "b", "unitsSold": "1"})
    table.put_many_json(["a", "b"], ['{"uuid":"a","unitsSold":"7"}', '{"uuid":"b","x":"\\u00e9"}'])
    assert table.get_many([{"uuid": "b"}, {"uuid": "a"}]) == [
        {"uuid": "b", "x": "é"},
        {"uuid": "a", "unitsSold": "7"},
    ]
    feed = [(c.key, c.updated_at, c.origin, c.seq) for c in table.changes_since(0)]
    assert feed == [
        ({"uuid": "a"}, 100_000_001, "east", 2),
        ({"uuid": "b"}, 100_000_002, "east", 3),
    ]
    region.close()


def test_put_many_json_refuses_texts_that_are_not_their_keys_items(tmp_path: Path) -> None:
    region = open_region_tables(tmp_path / "e.db", origin="east")
    table = region.financials
    table.put({"uuid": "a", "unitsSold": "1"})
    for keys, texts in [
        (["a", "b"], ['{"uuid":"a"}', '{"uuid":"c"}']),  # another key's item
        (["a", "b"], ['{"uuid":"a"}', '["b"]']),  # not an object
        (["a", "b"], ['{"uuid":"a"}', "{uuid: b}"]),  # not JSON
        (["a", 5], ['{"uuid":"a"}', '{"uuid":5}']),  # not a string key
        (["a"], ['{"uuid":"a"}', '{"uuid":"b"}']),  # not one key per text
    ]:
        with pytest.raises(TableError):
            table.put_many_json(keys, texts)  # type: ignore[arg-type]
    assert list(table.scan()) == [{"uuid": "a", "unitsSold": "1"}]  # nothing written
    assert len(table.changes_since(0)) == 1
    with pytest.raises(TableError):
        region.errors.put_many_json(["a"], ['{"file_id":"a","row":1}'])
    region.close()


WORKER = textwrap.dedent(
    """
    import sys
    from mrbatch.errors import ConditionFailedError
    from mrbatch.ports import Condition
    from mrbatch.state import open_region_tables

    tables = open_region_tables(sys.argv[1], origin="east")
    t = tables.batch_state
    for _ in range(25):
        while True:
            n = t.get({"file_id": "counter"})["n"]
            try:
                t.update({"file_id": "counter"}, {"n": n + 1}, condition=Condition(equals={"n": n}))
                break
            except ConditionFailedError:
                continue
    tables.close()
    """
)


def test_processes_compare_and_set_without_losing_updates(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    tables = open_region_tables(path, origin="east")
    tables.batch_state.put({"file_id": "counter", "n": 0}, condition=Condition(absent=("file_id",)))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path)]) for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    assert tables.batch_state.get({"file_id": "counter"}) == {"file_id": "counter", "n": 75}
    tables.close()


def test_get_many_attrs_answers_found_items_attributes_as_stored(tmp_path: Path) -> None:
    tables = open_region_tables(tmp_path / "r.db", origin="r")
    table = tables.financials
    table.put({"uuid": "1", "a": "x\u00e9", "b": 2})
    table.put({"uuid": "2", "a": 'q"', "c": "z"})
    table.put({"uuid": "3", "a": "gone", "b": "gone"})
    table.delete({"uuid": "3"})
    many = [str(n) for n in range(1000, 1900)] + ["2", "1", "3", "4", "1"]
    try:
        found = sorted(table.get_many_attrs(many, ["a", "b"]))
    finally:
        tables.close()
    assert found == [("1", '["x\\u00e9",2]'), ("2", '["q\\"",null]')]


@pytest.mark.parametrize("attrs", [["a"], ["a", "b') --"], []])
def test_get_many_attrs_refuses_fewer_than_two_plain_names(
    tmp_path: Path, attrs: list[str]
) -> None:
    tables = open_region_tables(tmp_path / "r.db", origin="r")
    try:
        with pytest.raises(TableError, match="2\\+ names"):
            list(tables.financials.get_many_attrs(["1"], attrs))
    finally:
        tables.close()


def test_get_many_attrs_refuses_a_table_with_a_sort_key(tmp_path: Path) -> None:
    tables = open_region_tables(tmp_path / "r.db", origin="r")
    try:
        with pytest.raises(TableError, match="without sort key"):
            list(tables.errors.get_many_attrs(["1"], ["a", "b"]))
    finally:
        tables.close()
