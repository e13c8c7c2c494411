"""The replicator as a real child process of the supervisor: objects and table items flow
both ways, a pause holds them back (and the status file shows the backlog), and a SIGKILL
followed by a restart loses nothing and duplicates nothing, wherever it lands: at a chosen
point (inside a copy) and at a point the test does not choose (during a load)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mrbatch.ports import REPLICA
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.runtime.services.replicator import pause_replication, read_replication_status
from mrbatch.runtime.services.supervisor import ChildSpec, Supervisor, wait_until
from mrbatch.runtime.wiring import open_region_store, open_tables
from mrbatch.state import RegionTables

EAST, WEST = "us-east-1", "us-west-2"
EAST_TO_WEST, WEST_TO_EAST = f"{EAST}->{WEST}", f"{WEST}->{EAST}"
TIMEOUT = 20.0


@dataclass
class Stack:
    """A running replicator and the test's own handles on both regions."""

    config: StackConfig
    supervisor: Supervisor
    stores: dict[str, RecordedObjectStore]
    tables: dict[str, RegionTables]

    def status(self) -> dict[str, Any]:
        return read_replication_status(self.config)

    def direction(self, key: str) -> dict[str, Any]:
        directions: dict[str, Any] = self.status()["directions"]
        return dict(directions[key])

    def wait_rounds(self, count: int) -> None:
        """Wait until the replicator has published `count` more rounds (a full round seen
        after this call started, whatever it was doing then)."""
        start = self.status()["rounds"]
        wait_until(
            lambda: self.status()["rounds"] >= start + count,
            timeout=TIMEOUT,
            what=f"{count} replication rounds",
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    config = StackConfig(data_dir=tmp_path / "stack")
    config.save()
    supervisor = Supervisor(config)
    tables = {r: open_tables(config, r) for r in config.regions}
    try:
        supervisor.start([ChildSpec("replicator", "replicator", ("--interval", "0.05"))])
        stores = {r: open_region_store(config, r) for r in config.regions}
        yield Stack(config, supervisor, stores, tables)
    finally:
        supervisor.stop()
        for region_tables in tables.values():
            region_tables.close()


def _feed_rows(config: StackConfig, region: str, query: str, *args: Any) -> list[Any]:
    with closing(sqlite3.connect(config.feed_db(region))) as db:
        return db.execute(query, args).fetchall()


def _replica_entries(config: StackConfig, region: str) -> Counter[tuple[str, str]]:
    """(key, version) of every committed replica put in `region`'s change feed."""
    rows = _feed_rows(
        config, region, "SELECT key, version_id FROM changes WHERE state='committed' AND replica=1"
    )
    return Counter((key, version) for key, version in rows)


@contextmanager
def _bucket_index_locked(config: StackConfig, region: str) -> Iterator[None]:
    """Hold the write lock of `region`'s bucket index: a put into that bucket gets as far as
    its pending feed entry and its body, then waits for the index (SQLite's busy timeout)."""
    db = sqlite3.connect(config.bucket_dir(region) / "index.db", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def _has(store: RecordedObjectStore, key: str) -> bool:
    return any(info.key == key for info in store.list(key))


def test_objects_replicate_both_ways_as_replicas_with_the_same_version(stack: Stack) -> None:
    east, west = stack.stores[EAST], stack.stores[WEST]
    put_east = east.put("input/a.csv", b"uuid,x\n1,2\n", metadata={"owner": "alice"})
    put_west = west.put("output/completed/b.csv", b"done\n")
    wait_until(lambda: _has(west, "input/a.csv"), timeout=TIMEOUT, what="a.csv in us-west-2")
    wait_until(lambda: _has(east, "output/completed/b.csv"), timeout=TIMEOUT, what="b.csv east")

    replica, body = west.get("input/a.csv")
    with body:
        assert body.read() == b"uuid,x\n1,2\n"
    assert replica.replication_status == REPLICA
    assert replica.version_id == put_east.version_id
    assert replica.etag == put_east.etag
    assert dict(replica.metadata) == {"owner": "alice"}
    back = east.head("output/completed/b.csv")
    assert (back.replication_status, back.version_id) == (REPLICA, put_west.version_id)

    stack.wait_rounds(3)
    # replicas are not replicated back: each side holds one replica put, of the other's object
    assert _replica_entries(stack.config, WEST) == {("input/a.csv", put_east.version_id): 1}
    assert _replica_entries(stack.config, EAST) == {
        ("output/completed/b.csv", put_west.version_id): 1
    }
    assert east.head("input/a.csv").replication_status != REPLICA
    objects = stack.direction(EAST_TO_WEST)["objects"]
    assert (objects["replicated"], objects["late"], objects["operations_pending"]) == (1, 0, 0)
    assert stack.status()["errors"] == 0


def test_pause_holds_objects_back_and_the_status_shows_the_backlog(stack: Stack) -> None:
    east, west = stack.stores[EAST], stack.stores[WEST]
    pause_replication(stack.config, True, direction=(EAST, WEST))
    wait_until(lambda: stack.direction(EAST_TO_WEST)["paused"], timeout=TIMEOUT, what="pause seen")
    for n in range(3):
        east.put(f"input/held-{n}.csv", b"x" * (10 + n))
    west.put("input/flows.csv", b"west")
    wait_until(lambda: _has(east, "input/flows.csv"), timeout=TIMEOUT, what="west -> east")

    def backlog_shown() -> bool:
        objects = stack.direction(EAST_TO_WEST)["objects"]
        return bool(objects["operations_pending"] == 3)

    wait_until(backlog_shown, timeout=TIMEOUT, what="the backlog in the status file")
    direction = stack.direction(EAST_TO_WEST)
    assert direction["paused"] is True
    assert direction["objects"]["bytes_pending"] == 10 + 11 + 12
    assert direction["objects"]["oldest_pending_age_seconds"] > 0
    assert stack.direction(WEST_TO_EAST)["paused"] is False
    assert not any(_has(west, f"input/held-{n}.csv") for n in range(3))

    pause_replication(stack.config, False, direction=(EAST, WEST))
    wait_until(
        lambda: all(_has(west, f"input/held-{n}.csv") for n in range(3)),
        timeout=TIMEOUT,
        what="held objects after the pause",
    )
    wait_until(
        lambda: stack.direction(EAST_TO_WEST)["objects"]["operations_pending"] == 0,
        timeout=TIMEOUT,
        what="an empty backlog",
    )
    assert stack.direction(EAST_TO_WEST)["objects"]["replicated"] == 3


def test_table_items_converge_after_a_partition(stack: Stack) -> None:
    east, west = stack.tables[EAST], stack.tables[WEST]
    east.batch_state.put({"file_id": "f#1", "status": "INITIALIZED"})
    east.batch_state.put({"file_id": "g#1", "status": "INITIALIZED"})
    wait_until(
        lambda: len(list(west.batch_state.scan())) == 2, timeout=TIMEOUT, what="initial items"
    )

    pause_replication(stack.config, True)
    wait_until(
        lambda: all(stack.direction(k)["paused"] for k in (EAST_TO_WEST, WEST_TO_EAST)),
        timeout=TIMEOUT,
        what="the partition",
    )
    # both sides write the same items; each side's later write must win everywhere
    east.batch_state.update({"file_id": "f#1"}, {"status": "RUNNING"})
    west.batch_state.update({"file_id": "g#1"}, {"status": "RUNNING"})
    west.batch_state.update({"file_id": "f#1"}, {"status": "COMPLETED", "region": WEST})
    east.batch_state.update({"file_id": "g#1"}, {"status": "FAILED", "region": EAST})
    east.batch_state.put({"file_id": "h#1", "status": "INITIALIZED"})
    west.batch_state.delete({"file_id": "h#1"})  # newer than east's put: h ends deleted
    west.errors.put({"file_id": "f#1", "row": 3, "message": "bad date"})

    def pending(key: str, table: str) -> int:
        return int(stack.direction(key)["tables"][table]["items_pending"])

    wait_until(
        lambda: (
            (pending(EAST_TO_WEST, "batch_state"), pending(WEST_TO_EAST, "batch_state")) == (3, 3)
            and pending(WEST_TO_EAST, "errors") == 1
        ),
        timeout=TIMEOUT,
        what="the table backlog in the status file",
    )
    assert west.batch_state.get({"file_id": "f#1"}) == {
        "file_id": "f#1",
        "status": "COMPLETED",
        "region": WEST,
    }
    assert east.errors.get({"file_id": "f#1", "row": 3}) is None

    pause_replication(stack.config, False)
    expected = [
        {"file_id": "f#1", "status": "COMPLETED", "region": WEST},
        {"file_id": "g#1", "status": "FAILED", "region": EAST},
    ]
    wait_until(
        lambda: (
            list(east.batch_state.scan()) == expected and list(west.batch_state.scan()) == expected
        ),
        timeout=TIMEOUT,
        what="both regions to converge",
    )
    assert list(east.errors.scan()) == [{"file_id": "f#1", "row": 3, "message": "bad date"}]
    stack.wait_rounds(2)
    status = stack.status()
    assert status["errors"] == 0
    assert all(
        table["items_pending"] == 0
        for direction in status["directions"].values()
        for table in direction["tables"].values()
    )


def test_sigkill_inside_a_copy_loses_nothing_after_restart(stack: Stack) -> None:
    # The replicator may acknowledge a change only once the destination holds it. Kill it
    # while it is inside the copy, deterministically: the destination's index is locked, so
    # the copy is stuck after its pending feed entry until the kill.
    key = "input/held.csv"
    with _bucket_index_locked(stack.config, WEST):
        version = stack.stores[EAST].put(key, b"row\n").version_id
        wait_until(
            lambda: (
                _feed_rows(
                    stack.config, WEST, "SELECT 1 FROM changes WHERE key=? AND state='pending'", key
                )
                != []
            ),
            timeout=TIMEOUT,
            what="the replicator inside its copy to us-west-2",
        )
        stack.supervisor.kill("replicator")
    cursor = "SELECT seq FROM cursors WHERE consumer='replicate-to-us-west-2'"
    assert _feed_rows(stack.config, EAST, cursor) in ([], [(0,)])  # nothing acknowledged
    stack.supervisor.restart("replicator")
    wait_until(
        lambda: _replica_entries(stack.config, WEST) == Counter({(key, version): 1}),
        timeout=TIMEOUT,
        what="the held object in us-west-2 after the restart",
    )
    assert stack.stores[WEST].get_bytes(key) == b"row\n"
    assert stack.stores[WEST].head(key).version_id == version


def test_sigkill_during_a_load_and_restart_lose_nothing_and_duplicate_nothing(
    stack: Stack,
) -> None:
    east, west = stack.stores[EAST], stack.stores[WEST]
    count = 150
    versions = {}
    for n in range(count):
        key = f"input/load-{n:03}.csv"
        versions[key] = east.put(key, f"row {n}\n".encode()).version_id
        stack.tables[EAST].batch_state.put({"file_id": f"load-{n:03}#1", "status": "RUNNING"})

    wait_until(
        lambda: sum(_replica_entries(stack.config, WEST).values()) >= 10,
        timeout=TIMEOUT,
        what="replication to start",
    )
    stack.supervisor.kill("replicator")
    stack.supervisor.restart("replicator")

    expected = Counter((key, version) for key, version in versions.items())
    wait_until(
        lambda: _replica_entries(stack.config, WEST) == expected,
        timeout=TIMEOUT,
        what=f"all {count} objects, once each",
    )
    assert all(west.head(key).version_id == version for key, version in versions.items())
    west_state = stack.tables[WEST].batch_state
    wait_until(
        lambda: len(list(west_state.scan())) == count, timeout=TIMEOUT, what="all table items"
    )
    # west made no write of its own: its feed position counts applies, one per item
    changes = west_state.changes_since(0, limit=10 * count)
    assert len(changes) == count
    assert max(c.seq for c in changes) == count
    stack.wait_rounds(2)
    assert _replica_entries(stack.config, WEST) == expected  # nothing came after
    assert sum(_replica_entries(stack.config, EAST).values()) == 0
    assert stack.status()["errors"] == 0
