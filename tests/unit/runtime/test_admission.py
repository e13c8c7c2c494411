"""The admission queue: files accepted on arrival, started in arrival order at most `limit`
at once, and nothing lost or started twice across a restart or a move of activation. The
queue is a real change feed (SQLite); the engine is a recorder of the runs it is asked for."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from mrbatch.handlers.batch_state import claim, mark_completed, unfinished_files
from mrbatch.handlers.naming import execution_name, file_id
from mrbatch.ports import ObjectInfo
from mrbatch.routing.local import MemoryRoutingControl
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.services.admission import ACCEPT_CONSUMER, ADMIT_CONSUMER, AdmissionQueue
from mrbatch.state import BATCH_STATE, MemoryTable

EAST, WEST = "us-east-1", "us-west-2"


class Runs:
    """The engine as the queue sees it: starts by name (same name, same run) and ends."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.running: set[str] = set()

    def start(self, name: str, payload: dict[str, Any]) -> str:
        if name not in self.started:
            self.started.append(name)
            self.running.add(name)
        return f"arn:{name}"

    def count(self) -> int:
        return len(self.running)

    def end(self, name: str) -> None:
        self.running.discard(name)


def _put(feed: ChangeFeed, key: str, version: str) -> None:
    """An object-created event, as `RecordedObjectStore` records one."""
    etag = hashlib.md5(key.encode()).hexdigest()
    feed.commit(feed.begin(key), ObjectInfo(key, 1, etag, version, 0.0))


def _queue(feed: ChangeFeed, table: MemoryTable, routing: MemoryRoutingControl,
           runs: Runs, *, region: str = EAST, limit: int = 2) -> AdmissionQueue:  # fmt: skip
    return AdmissionQueue(
        region=region, feed=feed, batch_state=table, routing=routing, start=runs.start,
        running=runs.count, limit=limit,
    )  # fmt: skip


def _name(n: int) -> str:
    return execution_name(f"input/f{n}.csv", f"v{n}", 1)


@pytest.fixture
def feed(tmp_path: Path) -> ChangeFeed:
    return ChangeFeed(tmp_path / "feed.db")


@pytest.fixture
def routing() -> MemoryRoutingControl:
    return MemoryRoutingControl([EAST, WEST])


def test_files_start_in_arrival_order_at_most_limit_at_once(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, limit=2)
    for n in range(5):
        _put(feed, f"input/f{n}.csv", f"v{n}")
        _put(feed, f"work/v{n}/chunk.csv", "w")  # other objects in between
    queue.accept()
    assert queue.admit() == 2
    assert queue.admit() == 0  # both places taken: the third file waits
    assert runs.started == [_name(0), _name(1)]
    runs.end(_name(1))
    queue.admit()
    runs.end(_name(0))
    queue.admit()
    assert runs.started == [_name(n) for n in (0, 1, 2, 3)]
    assert runs.count() == 2


def test_queued_file_is_accepted_before_it_starts(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, limit=1)
    for n in range(3):
        _put(feed, f"input/f{n}.csv", f"v{n}")
    queue.accept()
    queue.admit()
    assert runs.started == [_name(0)]
    statuses = {item["file_id"]: (item["status"], item["epoch"]) for item in table.scan()}
    assert statuses == {file_id(f"input/f{n}.csv", f"v{n}"): ("INITIALIZED", 1) for n in range(3)}
    assert sorted(unfinished_files([table])) == sorted(statuses)  # reconciliation sees them


def test_queue_survives_a_restart_without_starting_a_file_twice(
    tmp_path: Path, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    first = ChangeFeed(tmp_path / "feed.db")
    for n in range(4):
        _put(first, f"input/f{n}.csv", f"v{n}")
    queue = _queue(first, table, routing, runs, limit=2)
    queue.accept()
    queue.admit()
    first.close()  # the region is killed: its runs resume in the engine, still running
    again = _queue(ChangeFeed(tmp_path / "feed.db"), table, routing, runs, limit=2)
    again.accept()
    assert again.admit() == 0
    runs.end(_name(0))
    runs.end(_name(1))
    assert again.admit() == 2
    assert runs.started == [_name(n) for n in range(4)]


def test_admission_is_never_ahead_of_the_claim(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs)
    _put(feed, "input/f0.csv", "v0")
    assert queue.admit() == 0  # not accepted yet: no record, no run
    assert runs.started == [] and list(table.scan()) == []
    queue.accept()
    assert queue.admit() == 1


def test_standby_region_accepts_and_starts_nothing(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, region=WEST)
    _put(feed, "input/f0.csv", "v0")
    queue.accept()
    assert queue.admit() == 0
    assert runs.started == [] and list(table.scan()) == []
    assert feed.cursor(ADMIT_CONSUMER) == feed.cursor(ACCEPT_CONSUMER) > 0


def test_queued_files_are_left_to_the_new_active_region_after_a_failover(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, limit=1)
    for n in range(3):
        _put(feed, f"input/f{n}.csv", f"v{n}")
    queue.accept()
    queue.admit()
    routing.set_active(WEST, "failover")
    runs.end(_name(0))  # fenced
    assert queue.admit() == 0  # the queue drains without starting anything here
    assert feed.cursor(ADMIT_CONSUMER) == feed.cursor(ACCEPT_CONSUMER)
    queued = {file_id(f"input/f{n}.csv", f"v{n}") for n in (1, 2)}
    assert queued <= set(unfinished_files([table]))  # what the new region re-drives


def test_file_seen_while_standby_is_not_started_after_activation_returns(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, limit=1)
    _put(feed, "input/f0.csv", "v0")
    queue.accept()
    queue.admit()  # f0 runs and holds the only place
    routing.set_active(WEST, "failover")
    _put(feed, "input/f1.csv", "v1")  # arrives while standby: WEST's to handle
    queue.accept()
    routing.set_active(EAST, "failback")
    runs.end(_name(0))
    assert queue.admit() == 0  # no record here: reconciliation decides, not a late start
    assert [name for name in runs.started if "f1" in name] == []


def test_finished_file_is_passed_over_without_a_run(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    queue = _queue(feed, table, routing, runs, limit=1)
    _put(feed, "input/f0.csv", "v0")
    _put(feed, "input/f1.csv", "v1")
    queue.accept()
    mark_completed(table, file_id("input/f0.csv", "v0"), 1, region=EAST)  # e.g. replicated
    assert queue.admit() == 1
    assert runs.started == [_name(1)]


def test_queue_added_to_an_old_feed_starts_where_the_trigger_is(
    feed: ChangeFeed, routing: MemoryRoutingControl
) -> None:
    table, runs = MemoryTable(BATCH_STATE), Runs()
    _put(feed, "input/old.csv", "v0")  # claimed and started by the trigger before the upgrade
    claim(table, key="input/old.csv", version_id="v0", region=EAST, epoch=1)
    feed.ack(ACCEPT_CONSUMER, feed.cursor(ACCEPT_CONSUMER) + 1)
    _put(feed, "input/f1.csv", "v1")
    queue = _queue(feed, table, routing, runs)
    assert feed.cursor(ADMIT_CONSUMER) == 1
    queue.accept()
    queue.admit()
    assert runs.started == [_name(1)]
