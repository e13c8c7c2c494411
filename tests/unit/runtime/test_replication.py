"""The change feed and the object replicator: ordering, at-least-once, no duplicates."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import BinaryIO

import pytest

from mrbatch.ports import REPLICA, ObjectInfo, ObjectStore
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.objects import ObjectReplicator, ReplicationStatus
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.runtime.services.replicator import (
    Direction,
    ReplicatorLoop,
    pause_replication,
    read_replication_status,
    replication_paused,
)
from mrbatch.storage.memory import MemoryObjectStore


class Clock:
    """A hand-moved clock, so delays are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _region(tmp_path: Path, name: str, clock: Clock) -> RecordedObjectStore:
    return RecordedObjectStore(
        MemoryObjectStore(name), ChangeFeed(tmp_path / f"{name}.db", clock=clock)
    )


def _replicator(
    src: RecordedObjectStore, dst: RecordedObjectStore, clock: Clock, delay: float = 0.0
) -> ObjectReplicator:
    return ObjectReplicator(
        source=src.bucket,
        destination=dst.bucket,
        source_store=src,
        source_feed=src.feed,
        dest_store=dst,
        delay_seconds=delay,
        sla_seconds=10.0,
        clock=clock,
    )


def test_feed_reads_committed_puts_in_order_and_acks(tmp_path: Path, clock: Clock) -> None:
    store = _region(tmp_path, "east", clock)
    store.put("input/a.csv", b"a")
    store.put("input/b.csv", b"bb")
    changes = store.feed.read("trigger")
    assert [(c.key, c.size, c.replica) for c in changes] == [
        ("input/a.csv", 1, False),
        ("input/b.csv", 2, False),
    ]
    store.feed.ack("trigger", changes[0].seq)
    assert [c.key for c in store.feed.read("trigger")] == ["input/b.csv"]
    # a second consumer has its own cursor
    assert len(store.feed.read("other")) == 2


def test_feed_stops_at_a_pending_put_so_nothing_is_skipped(tmp_path: Path, clock: Clock) -> None:
    store = _region(tmp_path, "east", clock)
    store.put("input/a.csv", b"a")
    pending = store.feed.begin("input/crashed.csv")  # a writer died before committing
    store.put("input/c.csv", b"c")
    assert [c.key for c in store.feed.read("trigger")] == ["input/a.csv"]
    # the crashed put never wrote the object: settling drops its entry
    clock.now += 60
    assert store.feed.settle(store) == 1
    assert [c.key for c in store.feed.read("trigger")] == ["input/a.csv", "input/c.csv"]
    assert pending not in [c.seq for c in store.feed.read("trigger")]


def test_settle_commits_a_put_whose_object_was_written(tmp_path: Path, clock: Clock) -> None:
    store = _region(tmp_path, "east", clock)
    seq = store.feed.begin("input/a.csv")
    info = store.inner.put("input/a.csv", b"abc")  # written, but the commit was lost
    clock.now += 60
    store.feed.settle(store)
    [change] = store.feed.read("trigger")
    assert (change.seq, change.version_id, change.etag) == (seq, info.version_id, info.etag)


def test_replicator_copies_marks_replica_and_keeps_version(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    info = east.put("input/a.csv", b"hello", metadata={"owner": "ops"})
    assert _replicator(east, west, clock).run_once() == 1
    replica = west.head("input/a.csv")
    assert west.get_bytes("input/a.csv") == b"hello"
    assert (replica.version_id, replica.etag, replica.replication_status) == (
        info.version_id,
        info.etag,
        REPLICA,
    )
    assert dict(replica.metadata) == {"owner": "ops"}
    # the replica raises an event in the destination, and is never replicated back
    assert [c.replica for c in west.feed.read("trigger")] == [True]
    assert _replicator(west, east, clock).run_once() == 0
    assert east.head("input/a.csv").replication_status is None


def test_replicator_rerun_after_lost_ack_copies_nothing_twice(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("input/a.csv", b"hello")
    replicator = _replicator(east, west, clock)
    replicator.run_once()
    # simulate a crash between the copy and the ack: the cursor is back where it was
    with sqlite3.connect(tmp_path / "east.db") as db:
        db.execute("DELETE FROM cursors")
    assert east.feed.cursor(replicator.consumer) == 0
    assert replicator.run_once() == 0
    assert len(west.feed.read("trigger")) == 1  # one replica put, not two


def test_identical_reupload_is_replicated_as_its_own_version(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    replicator = _replicator(east, west, clock)
    first = east.put("input/a.csv", b"same bytes")
    assert replicator.run_once() == 1
    again = east.put("input/a.csv", b"same bytes")  # same ETag, new version
    assert again.etag == first.etag and again.version_id != first.version_id
    assert replicator.run_once() == 1
    replica = west.head("input/a.csv")
    assert (replica.version_id, replica.replication_status) == (again.version_id, REPLICA)
    assert [c.version_id for c in west.feed.read("trigger")] == [
        first.version_id,
        again.version_id,
    ]


def test_replication_delay_holds_objects_back_and_reports_backlog(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("input/a.csv", b"12345")
    replicator = _replicator(east, west, clock, delay=30.0)
    assert replicator.run_once() == 0
    status = replicator.status()
    assert (status.operations_pending, status.bytes_pending) == (1, 5)
    clock.now += 31
    assert status.late == 0
    assert replicator.run_once() == 1
    status = replicator.status()
    assert (status.operations_pending, status.bytes_pending, status.replicated) == (0, 0, 1)
    assert status.worst_latency_seconds == pytest.approx(31.0)
    assert status.late == 1  # 31 s is later than the 10 s SLA


def test_replicator_skips_versions_overwritten_since(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("k", b"old")
    newest = east.put("k", b"new")
    assert _replicator(east, west, clock).run_once() == 1
    assert west.get_bytes("k") == b"new"
    assert west.head("k").version_id == newest.version_id


def test_deletes_are_not_replicated(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("k", b"x")
    replicator = _replicator(east, west, clock)
    replicator.run_once()
    east.delete("k")
    replicator.run_once()
    assert west.get_bytes("k") == b"x"


def test_each_pass_copies_up_to_its_limit_and_the_next_pass_goes_on(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    for name in ("a", "b", "c"):
        east.put(f"input/{name}.csv", name.encode())
    replicator = _replicator(east, west, clock)
    assert replicator.run_once(limit=2) == 2
    assert replicator.run_once(limit=2) == 1
    assert [c.key for c in west.feed.read("trigger")] == [
        "input/a.csv",
        "input/b.csv",
        "input/c.csv",
    ]


def test_a_pass_copies_at_most_a_hundred_objects_by_default(tmp_path: Path, clock: Clock) -> None:
    # the replicator process calls run_once() between checks of its stop and pause flags:
    # a bounded pass keeps those checks frequent however large the backlog
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    for n in range(101):
        east.put(f"work/v1/chunks/{n:04d}.csv", b"x")
    replicator = _replicator(east, west, clock)
    assert (replicator.run_once(), replicator.run_once()) == (100, 1)


def test_replicator_without_a_delay_copies_at_once_and_reports_the_rtc_sla(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("input/a.csv", b"a")
    replicator = ObjectReplicator(
        source="east", destination="west", source_store=east, source_feed=east.feed,
        dest_store=west, clock=clock,
    )  # fmt: skip
    assert replicator.run_once() == 1  # same instant as the put
    assert replicator.status().sla_seconds == 900.0  # S3 RTC: 15 minutes


def test_a_crashed_put_whose_object_was_written_is_settled_and_replicated(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.feed.begin("input/a.csv")
    info = east.inner.put("input/a.csv", b"abc")  # written, but the writer died before commit
    replicator = _replicator(east, west, clock)
    assert replicator.run_once() == 0  # the entry is pending: nothing after it is read
    clock.now += 31  # older than the feed's 30 s: the replicator settles it
    assert replicator.run_once() == 1
    assert west.head("input/a.csv").version_id == info.version_id


def test_a_version_deleted_before_it_replicated_is_not_counted(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    east.put("input/a.csv", b"a")
    east.delete("input/a.csv")
    replicator = _replicator(east, west, clock)
    assert replicator.run_once() == 0
    assert list(west.list("input/")) == []
    assert replicator.status().replicated == 0


def test_replica_keeps_the_standard_headers(tmp_path: Path, clock: Clock) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    headers = {"content-type": "text/csv", "cache-control": "no-cache"}
    east.put("input/a.csv", b"a", headers=headers)
    _replicator(east, west, clock).run_once()
    assert dict(west.head("input/a.csv").headers) == {
        "content-type": "text/csv",
        "cache-control": "no-cache",
    }


def test_status_reports_both_regions_the_oldest_pending_age_and_ignores_replicas(
    tmp_path: Path, clock: Clock
) -> None:
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    replicator = _replicator(east, west, clock, delay=100.0)
    assert replicator.status() == ReplicationStatus(
        source="east", destination="west", operations_pending=0, bytes_pending=0,
        oldest_pending_age_seconds=0.0, replicated=0, late=0, worst_latency_seconds=0.0,
        sla_seconds=10.0,
    )  # fmt: skip
    east.put("input/a.csv", b"abc")  # at 1000
    assert replicator.status().oldest_pending_age_seconds == 0.0  # pending since just now
    clock.now += 25
    east.put("input/b.csv", b"de", replication_status=REPLICA)  # a replica: never sent back
    clock.now += 5
    assert replicator.status() == ReplicationStatus(
        source="east", destination="west", operations_pending=1, bytes_pending=3,
        oldest_pending_age_seconds=30.0, replicated=0, late=0, worst_latency_seconds=0.0,
        sla_seconds=10.0,
    )  # fmt: skip


def test_a_delay_given_as_a_function_is_read_at_every_pass(tmp_path: Path, clock: Clock) -> None:
    # a chaos experiment lengthens or ends the delay while the replicator runs
    east, west = _region(tmp_path, "east", clock), _region(tmp_path, "west", clock)
    delay = [60.0]
    replicator = ObjectReplicator(
        source="east", destination="west", source_store=east, source_feed=east.feed,
        dest_store=west, delay_seconds=lambda: delay[0], clock=clock,
    )  # fmt: skip
    east.put("input/a.csv", b"a")
    clock.now += 30
    assert replicator.run_once() == 0  # held back: 30 s of 60
    delay[0] = 0.0  # the experiment ends
    assert replicator.run_once() == 1


def test_idle_wait_doubles_with_each_consecutive_failure_up_to_five_seconds(
    tmp_path: Path,
) -> None:
    loop = ReplicatorLoop(StackConfig(data_dir=tmp_path), [])
    waits = []
    for failures in (0, 1, 2, 3, 6, 7, 100_000):  # a day-long outage must not overflow
        loop.consecutive_errors = failures
        waits.append(loop.backoff(0.01))
    assert waits == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.64, 0.64, 0.64])
    loop.consecutive_errors = 3
    assert loop.backoff(1.0) == 5.0  # 8 s, capped


class _BrokenStore(MemoryObjectStore):
    """A source bucket with a bug: every read raises an error no port declares."""

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        raise RuntimeError("a bug in the store")


def _loop_over(tmp_path: Path, source: ObjectStore, clock: Clock) -> ReplicatorLoop:
    src = RecordedObjectStore(source, ChangeFeed(tmp_path / "src.db", clock=clock))
    dst = _region(tmp_path, "dst", clock)
    direction = Direction("us-east-1", "us-west-2", _replicator(src, dst, clock), [])
    return ReplicatorLoop(StackConfig(data_dir=tmp_path), [direction], clock=clock)


def test_a_bug_in_a_direction_is_counted_as_unexpected_and_retried_each_round(
    tmp_path: Path, clock: Clock
) -> None:
    loop = _loop_over(tmp_path, _BrokenStore("east"), clock)
    loop.directions[0].objects._source_store.put("input/a.csv", b"a")
    assert loop.round() == 0  # nothing moved, the loop goes on
    clock.now += 1.0  # the status is due again
    assert loop.round() == 0
    assert (loop.errors, loop.unexpected_errors, loop.consecutive_errors) == (2, 2, 2)
    assert loop.last_error == (
        "unexpected error replicating us-east-1->us-west-2: RuntimeError: a bug in the store"
    )
    status = read_replication_status(loop.config)
    assert (status["pid"], status["errors"], status["unexpected_errors"]) == (os.getpid(), 2, 2)
    assert status["last_error"] == loop.last_error


def test_a_status_file_that_cannot_be_written_is_counted_and_replication_goes_on(
    tmp_path: Path, clock: Clock
) -> None:
    loop = _loop_over(tmp_path, MemoryObjectStore("east"), clock)
    (tmp_path / "run").write_text("a file where the run directory should be")
    loop.directions[0].objects._source_store.put("input/a.csv", b"a")
    assert loop.round() == 1  # replicated, though its status could not be published
    assert (loop.errors, loop.unexpected_errors, loop.last_error) == (1, 0, None)


def test_a_clean_round_resets_the_consecutive_failures(tmp_path: Path, clock: Clock) -> None:
    loop = _loop_over(tmp_path, MemoryObjectStore("east"), clock)
    loop.consecutive_errors = 3  # after three failed rounds
    assert loop.round() == 0
    assert (loop.consecutive_errors, loop.backoff(0.1)) == (0, 0.1)


def test_status_is_published_when_something_moved_else_once_a_second(
    tmp_path: Path, clock: Clock
) -> None:
    loop = _loop_over(tmp_path, MemoryObjectStore("east"), clock)
    config = loop.config
    loop.round()  # the first round always publishes
    assert read_replication_status(config)["updated_at"] == clock.now
    first = clock.now
    clock.now += 0.5
    loop.round()  # nothing moved, nothing paused: not yet
    assert read_replication_status(config)["updated_at"] == first
    loop.directions[0].objects._source_store.put("input/a.csv", b"a")
    assert loop.round() == 1
    assert read_replication_status(config)["updated_at"] == first + 0.5  # moved: at once
    clock.now += 1.0
    loop.round()
    status = read_replication_status(config)
    assert status["updated_at"] == first + 1.5  # a second since: alive
    east_west = status["directions"]["us-east-1->us-west-2"]
    assert (east_west["source"], east_west["destination"], east_west["paused"]) == (
        "us-east-1",
        "us-west-2",
        False,
    )
    assert not {"table", "source", "destination"} & set(east_west["objects"])


def test_the_pause_flags_an_operator_touches_are_the_documented_files(tmp_path: Path) -> None:
    # docs/operations.md: <data-dir>/run/replication.paused stops both directions,
    # run/replication.<src>-to-<dst>.paused one
    config = StackConfig(data_dir=tmp_path)
    (tmp_path / "run").mkdir(parents=True, exist_ok=True)
    (tmp_path / "run" / "replication.us-east-1-to-us-west-2.paused").touch()
    assert replication_paused(config, ("us-east-1", "us-west-2")) is True
    assert replication_paused(config, ("us-west-2", "us-east-1")) is False
    (tmp_path / "run" / "replication.paused").touch()
    assert replication_paused(config, ("us-west-2", "us-east-1")) is True
    pause_replication(config, False)
    pause_replication(config, False, direction=("us-east-1", "us-west-2"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []


def test_replication_can_be_paused_before_the_stack_ever_ran(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path / "not-yet-created")  # a drill set up first
    pause_replication(config, True)
    assert replication_paused(config, ("us-east-1", "us-west-2")) is True
