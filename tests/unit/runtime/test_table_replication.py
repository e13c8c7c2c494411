"""Table replication: last-writer-wins convergence, deletes, durable cursors, no ping-pong."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.tables import (
    CursorState,
    SqliteCursorStore,
    TableReplicator,
)
from mrbatch.runtime.services.replicator import (
    ReplicatorLoop,
    open_directions,
    pause_file,
    pause_replication,
    read_replication_status,
    replication_paused,
    serve,
)
from mrbatch.runtime.wiring import open_region_store, open_tables
from mrbatch.state import BATCH_STATE, ERRORS, SqliteDatabase, SqliteTable

EAST, WEST = "us-east-1", "us-west-2"


class Clock:
    """A hand-moved wall clock shared by both regions, so write order is chosen by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pair:
    """One table in both regions and the replicators of both directions."""

    east: SqliteTable
    west: SqliteTable
    east_to_west: TableReplicator
    west_to_east: TableReplicator
    root: Path
    clock: Clock

    def reopen_replicators(self) -> None:
        """A replicator restart: fresh objects over the same cursor files."""
        self.east_to_west = _replicator(self.east, self.west, EAST, self.root, self.clock)
        self.west_to_east = _replicator(self.west, self.east, WEST, self.root, self.clock)

    def sync(self) -> tuple[int, int]:
        return self.east_to_west.run_once(), self.west_to_east.run_once()


def _replicator(
    src: SqliteTable, dst: SqliteTable, region: str, root: Path, clock: Clock
) -> TableReplicator:
    cursors = SqliteCursorStore(root / f"{region}-cursors.db")
    return TableReplicator(src, dst, source_region=region, cursor_store=cursors, clock=clock)


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    clock = Clock()
    east = SqliteTable(SqliteDatabase(tmp_path / "east.db"), BATCH_STATE, origin=EAST, clock=clock)
    west = SqliteTable(SqliteDatabase(tmp_path / "west.db"), BATCH_STATE, origin=WEST, clock=clock)
    return Pair(
        east,
        west,
        _replicator(east, west, EAST, tmp_path, clock),
        _replicator(west, east, WEST, tmp_path, clock),
        tmp_path,
        clock,
    )


def _items(table: SqliteTable) -> list[dict[str, object]]:
    return list(table.scan())


def test_local_writes_reach_the_peer_and_come_back_to_nobody(pair: Pair) -> None:
    pair.east.put({"file_id": "a", "status": "INITIALIZED"})
    pair.east.put({"file_id": "b", "status": "RUNNING"})
    assert pair.sync() == (2, 0)
    assert _items(pair.west) == [
        {"file_id": "a", "status": "INITIALIZED"},
        {"file_id": "b", "status": "RUNNING"},
    ]
    # the replicas carry east's origin: west forwards none of them back, east is untouched
    east_feed = pair.east.changes_since(0)
    assert pair.sync() == (0, 0)
    assert pair.east.changes_since(0) == east_feed
    assert pair.west_to_east.status().superseded == 0


def test_deletes_are_replicated_as_tombstones(pair: Pair) -> None:
    pair.east.put({"file_id": "a", "status": "INITIALIZED"})
    pair.east.put({"file_id": "b", "status": "INITIALIZED"})
    pair.sync()
    original = pair.east.changes_since(0)[0]
    pair.clock.now += 1
    pair.east.delete({"file_id": "a"})
    assert pair.sync() == (1, 0)
    assert pair.west.get({"file_id": "a"}) is None
    assert _items(pair.west) == [{"file_id": "b", "status": "INITIALIZED"}]
    # the tombstone stays: the item's older write, delivered again late, does not resurrect it
    assert pair.west.changes_since(0)[-1].item is None
    assert not pair.west.apply_replica(original)
    assert pair.west.get({"file_id": "a"}) is None


@pytest.mark.parametrize("first", ["east_to_west", "west_to_east"])
def test_partition_with_conflicting_writes_converges_on_the_newest(pair: Pair, first: str) -> None:
    pair.east.put({"file_id": "f", "status": "INITIALIZED"})
    pair.east.put({"file_id": "g", "status": "INITIALIZED"})
    pair.sync()
    # partition: both regions write the same items, nothing replicates
    pair.clock.now += 1
    pair.east.update({"file_id": "f"}, {"status": "RUNNING"})  # older write of f
    pair.west.update({"file_id": "g"}, {"status": "FAILED"})  # older write of g
    pair.clock.now += 1
    pair.west.update({"file_id": "f"}, {"status": "COMPLETED"})  # newer write of f
    pair.east.update({"file_id": "g"}, {"status": "COMPLETED"})  # newer write of g
    pair.east.put({"file_id": "h", "status": "INITIALIZED"})
    pair.clock.now += 1
    # a delete in west of an item west has never seen: its tombstone is newer, so it wins
    pair.west.delete({"file_id": "h"})
    # heal, in either order
    other = "west_to_east" if first == "east_to_west" else "east_to_west"
    getattr(pair, first).run_once()
    getattr(pair, other).run_once()
    expected = [
        {"file_id": "f", "status": "COMPLETED"},
        {"file_id": "g", "status": "COMPLETED"},
    ]
    assert _items(pair.east) == expected
    assert _items(pair.west) == expected
    assert pair.sync() == (0, 0)  # nothing left to do, nothing bounces


def test_equal_timestamps_are_broken_by_origin_on_both_sides(pair: Pair) -> None:
    pair.east.put({"file_id": "t", "status": "RUNNING"})
    pair.west.put({"file_id": "t", "status": "FAILED"})  # same clock value
    pair.sync()
    # ("us-west-2" > "us-east-1"): west's write wins everywhere
    assert pair.east.get({"file_id": "t"}) == {"file_id": "t", "status": "FAILED"}
    assert pair.west.get({"file_id": "t"}) == {"file_id": "t", "status": "FAILED"}


def test_restart_resumes_from_the_persisted_cursor(pair: Pair) -> None:
    for n in range(5):
        pair.east.put({"file_id": f"x{n}", "status": "INITIALIZED"})
    assert pair.east_to_west.run_once(limit=3) == 3
    pair.reopen_replicators()
    assert pair.east_to_west.status().items_pending == 2
    assert pair.east_to_west.run_once() == 2
    pair.reopen_replicators()
    assert pair.east_to_west.run_once() == 0
    status = pair.east_to_west.status()
    assert (status.applied, status.superseded, status.items_pending) == (5, 0, 0)
    assert len(_items(pair.west)) == 5
    # west's feed holds exactly one applied write per item: nothing was applied twice
    assert [c.seq for c in pair.west.changes_since(0)] == [1, 2, 3, 4, 5]


def test_a_lost_cursor_reapplies_without_changing_anything(pair: Pair, tmp_path: Path) -> None:
    """A crash after the applies but before the cursor save: everything is re-read."""
    pair.east.put({"file_id": "a", "status": "INITIALIZED"})
    pair.east.put({"file_id": "b", "status": "RUNNING"})
    pair.east_to_west.run_once()
    west_feed = pair.west.changes_since(0)
    fresh = TableReplicator(
        pair.east,
        pair.west,
        source_region=EAST,
        cursor_store=SqliteCursorStore(tmp_path / "lost.db"),
        clock=pair.clock,
    )
    assert fresh.run_once() == 0
    assert fresh.status().superseded == 2
    assert pair.west.changes_since(0) == west_feed


def test_status_counts_pending_items_and_lag(pair: Pair) -> None:
    pair.east.put({"file_id": "a", "status": "INITIALIZED"})
    pair.clock.now += 2
    pair.east.put({"file_id": "b", "status": "INITIALIZED"})
    pair.west.put({"file_id": "w", "status": "INITIALIZED"})  # west's own: not east's backlog
    pair.clock.now += 3
    status = pair.east_to_west.status()
    assert (status.table, status.source, status.destination) == ("batch_state", EAST, WEST)
    assert status.items_pending == 2
    assert status.oldest_pending_age_seconds == pytest.approx(5.0)
    pair.east_to_west.run_once()
    status = pair.east_to_west.status()
    assert status.items_pending == 0
    assert status.oldest_pending_age_seconds == 0.0
    assert status.last_lag_seconds == pytest.approx(3.0)
    assert status.worst_lag_seconds == pytest.approx(5.0)


def test_a_local_write_after_a_replica_is_newer_when_the_peer_clock_runs_ahead(
    tmp_path: Path,
) -> None:
    """The destination's hybrid clock moves past every applied stamp, so its next write of
    the same item wins everywhere (it happened after the replica was seen)."""
    east_clock, west_clock = Clock(), Clock()
    east_clock.now += 60  # east's wall clock a minute ahead of west's
    east = SqliteTable(SqliteDatabase(tmp_path / "e.db"), BATCH_STATE, origin=EAST,
                       clock=east_clock)  # fmt: skip
    west = SqliteTable(SqliteDatabase(tmp_path / "w.db"), BATCH_STATE, origin=WEST,
                       clock=west_clock)  # fmt: skip
    east_to_west = _replicator(east, west, EAST, tmp_path, east_clock)
    west_to_east = _replicator(west, east, WEST, tmp_path, west_clock)
    east.put({"file_id": "a", "status": "RUNNING"})
    west.put({"file_id": "w", "status": "RUNNING"})  # in west's feed, between the two
    assert east_to_west.run_once() == 1
    ((replica),) = west.changes_since(1)
    assert (replica.seq, replica.updated_at, replica.origin) == (2, 1_060_000_000, EAST)
    west.update({"file_id": "a"}, {"status": "COMPLETED"})
    ((local),) = west.changes_since(2)
    assert (local.seq, local.updated_at) == (3, replica.updated_at + 1)
    assert west_to_east.run_once() == 2
    assert east.get({"file_id": "a"}) == {"file_id": "a", "status": "COMPLETED"}


def test_a_page_counts_only_the_source_regions_writes(pair: Pair) -> None:
    """A page mixing the source's own writes with replicas it received: the replicas are
    neither applied nor counted as superseded, and the cursor moves past all of them."""
    pair.west.put({"file_id": "w1", "status": "RUNNING"})
    pair.west.put({"file_id": "w2", "status": "RUNNING"})
    assert pair.west_to_east.run_once() == 2
    pair.east.put({"file_id": "e1", "status": "RUNNING"})
    pair.clock.now += 1
    pair.east.update({"file_id": "w2"}, {"status": "FAILED"})
    pair.east.put({"file_id": "e2", "status": "RUNNING"})
    assert pair.east_to_west.run_once(limit=2) == 1  # w1 (a replica), e1
    status = pair.east_to_west.status()
    assert (status.applied, status.superseded, status.items_pending) == (1, 0, 2)
    assert pair.east_to_west.run_once(limit=2) == 2  # w2 (east's own now), e2
    assert pair.west.get({"file_id": "w2"}) == {"file_id": "w2", "status": "FAILED"}
    assert pair.east_to_west.run_once() == 0
    assert pair.east_to_west.status().superseded == 0


def test_tables_with_a_sort_key_replicate(tmp_path: Path) -> None:
    east = SqliteTable(SqliteDatabase(tmp_path / "e.db"), ERRORS, origin=EAST)
    west = SqliteTable(SqliteDatabase(tmp_path / "w.db"), ERRORS, origin=WEST)
    replicator = TableReplicator(
        east, west, source_region=EAST, cursor_store=SqliteCursorStore(tmp_path / "c.db")
    )
    east.put({"file_id": "a", "row": 2, "message": "bad date"})
    east.put({"file_id": "a", "row": 10, "message": "bad uuid"})
    assert replicator.run_once() == 2
    assert list(west.query("file_id", "a")) == [
        {"file_id": "a", "row": 2, "message": "bad date"},
        {"file_id": "a", "row": 10, "message": "bad uuid"},
    ]


def test_pairings_that_cannot_converge_are_refused(pair: Pair, tmp_path: Path) -> None:
    cursors = SqliteCursorStore(tmp_path / "c.db")
    errors = SqliteTable(SqliteDatabase(tmp_path / "x.db"), ERRORS, origin=WEST)
    with pytest.raises(ConfigError, match="into table errors"):
        TableReplicator(pair.east, errors, source_region=EAST, cursor_store=cursors)
    with pytest.raises(ConfigError, match="never be forwarded"):
        TableReplicator(pair.east, pair.west, source_region=WEST, cursor_store=cursors)
    with pytest.raises(ConfigError, match="both us-east-1"):
        TableReplicator(pair.east, pair.east, source_region=EAST, cursor_store=cursors)


def test_cursor_store_round_trips_and_keeps_names_apart(tmp_path: Path) -> None:
    store = SqliteCursorStore(tmp_path / "c.db")
    state = CursorState(seq=7, applied=5, superseded=2, last_lag_seconds=0.5, worst_lag_seconds=1.5)
    store.save("batch_state:a->b", state)
    store.close()
    reopened = SqliteCursorStore(tmp_path / "c.db")
    assert reopened.load("batch_state:a->b") == state
    assert reopened.load("errors:a->b") == CursorState()


def test_pause_flags_global_and_per_direction(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    assert not replication_paused(config, (EAST, WEST))
    pause_replication(config, True)
    assert pause_file(config).exists()
    assert replication_paused(config, (EAST, WEST)) and replication_paused(config, (WEST, EAST))
    pause_replication(config, False)
    pause_replication(config, True, direction=(WEST, EAST))
    assert replication_paused(config, (WEST, EAST))
    assert not replication_paused(config, (EAST, WEST))
    pause_replication(config, False, direction=(WEST, EAST))
    pause_replication(config, False, direction=(WEST, EAST))  # idempotent
    assert not replication_paused(config, (WEST, EAST))
    with pytest.raises(MrBatchError, match="no replication direction"):
        pause_replication(config, True, direction=(EAST, EAST))
    with pytest.raises(ConfigError, match="unknown region"):
        pause_replication(config, True, direction=("eu-west-1", EAST))


def test_status_is_empty_before_the_replicator_wrote_one(tmp_path: Path) -> None:
    assert read_replication_status(StackConfig(data_dir=tmp_path)) == {}


# --- the service loop, in process --------------------------------------------------------


def test_loop_round_replicates_and_publishes_per_direction_status(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    east_tables = open_tables(config, EAST)
    open_region_store(config, EAST).put("input/a.csv", b"abc")
    east_tables.batch_state.put({"file_id": "a.csv#1", "status": "INITIALIZED"})
    with open_directions(config) as directions:
        loop = ReplicatorLoop(config, directions)
        pause_replication(config, True)
        assert loop.round() == 0
        status = read_replication_status(config)
        east_to_west = status["directions"][f"{EAST}->{WEST}"]
        assert east_to_west["paused"] is True
        assert east_to_west["objects"]["operations_pending"] == 1
        assert east_to_west["objects"]["bytes_pending"] == 3
        assert east_to_west["tables"]["batch_state"]["items_pending"] == 1
        assert east_to_west["tables"]["errors"]["items_pending"] == 0
        pause_replication(config, False)
        assert loop.round() == 2  # one object, one item
        status = read_replication_status(config)
    assert status["directions"][f"{EAST}->{WEST}"]["objects"]["replicated"] == 1
    assert status["directions"][f"{EAST}->{WEST}"]["tables"]["batch_state"]["applied"] == 1
    assert (status["rounds"], status["errors"], status["last_error"]) == (2, 0, None)
    east_tables.close()


def test_a_failing_direction_is_counted_and_the_other_keeps_replicating(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    with open_directions(config) as directions:
        loop = ReplicatorLoop(config, directions)
        west_tables = open_tables(config, WEST)
        with west_tables.db.transaction() as conn:  # west's table vanishes under the replicator
            conn.execute('DROP TABLE "errors"')
        west_tables.close()
        open_region_store(config, EAST).put("input/e.csv", b"e")
        loop.round()
    assert (loop.errors, loop.unexpected_errors, loop.consecutive_errors) == (1, 0, 1)
    assert loop.last_error is not None
    assert loop.last_error.startswith(f"infrastructure error replicating {WEST}->{EAST}: ")
    assert "no such table" in loop.last_error
    assert loop.backoff(0.1) == pytest.approx(0.2)
    status = read_replication_status(config)
    assert status["errors"] == 1
    assert status["last_error"] == loop.last_error
    broken = status["directions"][f"{WEST}->{EAST}"]["tables"]["errors"]
    assert list(broken) == ["error"] and "no such table: errors" in broken["error"]
    assert status["directions"][f"{WEST}->{EAST}"]["tables"]["batch_state"]["items_pending"] == 0
    # east -> west still ran in the same round
    assert open_region_store(config, WEST).head("input/e.csv").version_id


def test_serve_refuses_a_non_positive_interval(tmp_path: Path) -> None:
    stop = threading.Event()
    with pytest.raises(ConfigError, match=r"--interval must be positive, got 0\.0"):
        serve(StackConfig(data_dir=tmp_path), ["--interval", "0"], lambda _: None, stop)
    assert not (tmp_path / "run" / "replication.json").exists()
