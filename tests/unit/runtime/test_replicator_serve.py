"""The replicator process's entry point, `serve`, run in this process: what it publishes
before it says it is ready, how long it waits between rounds, how it stops, and what it
writes to its log (`run/replicator.log`) when a round or its status fails.

The stack's integration tests run the same function as a child process; these run it in
the test's own, with a stop event that ends the loop after a given number of waits, so
each wait the loop asked for is seen and nothing sleeps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mrbatch.errors import ConfigError, ObjectNotFoundError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.services.replicator import (
    ReplicatorLoop,
    open_directions,
    pause_replication,
    read_replication_status,
    serve,
)
from mrbatch.runtime.wiring import open_region_store, open_tables

EAST, WEST = "us-east-1", "us-west-2"
LOGGER = "mrbatch.runtime.services.replicator"


class StopAfter(threading.Event):
    """A stop event that records each wait's timeout and is set by its `waits`-th wait,
    without waiting."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.left = waits
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        self.left -= 1
        if self.left <= 0:
            self.set()
        return self.is_set()


def _put(config: StackConfig, region: str, key: str, body: bytes) -> None:
    store = open_region_store(config, region)
    try:
        store.put(key, body)
    finally:
        store.feed.close()


def _drop_errors_table(config: StackConfig, region: str) -> None:
    """Take `region`'s errors table away (from under a replicator that has it open):
    every round of the direction into `region` then fails."""
    tables = open_tables(config, region)
    try:
        with tables.db.transaction() as conn:
            conn.execute('DROP TABLE "errors"')
    finally:
        tables.close()


def _serve(
    config: StackConfig,
    args: list[str],
    stop: StopAfter,
    when_ready: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Run `serve` until `stop` ends it; what it reported as ready, each with the status
    file as it was at that moment. `when_ready` runs once it is ready."""
    readiness: list[dict[str, Any]] = []

    def ready(record: dict[str, Any]) -> None:
        readiness.append({**record, "published": read_replication_status(config)})
        when_ready()

    serve(config, args, ready, stop)
    return readiness


def test_serve_publishes_before_ready_replicates_and_publishes_again_when_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = StackConfig(data_dir=tmp_path)
    _put(config, EAST, "input/a.csv", b"abc")
    caplog.set_level(logging.INFO, logger=LOGGER)
    stop = StopAfter(4)
    [ready] = _serve(config, [], stop)
    assert ready["status_file"] == str(tmp_path / "run" / "replication.json")
    assert (ready["published"]["rounds"], ready["published"]["errors"]) == (0, 0)
    assert sorted(ready["published"]["directions"]) == [f"{EAST}->{WEST}", f"{WEST}->{EAST}"]
    # at once; at once again after a round that moved the object; then the idle interval
    assert stop.timeouts == [0.0, 0.0, 0.1, 0.1]
    assert read_replication_status(config)["rounds"] == 3  # the last round, published on stop
    assert open_region_store(config, WEST).head("input/a.csv").size == 3
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        f"replicating {EAST}->{WEST}, {WEST}->{EAST}"
    ]


def test_serve_started_while_paused_says_so_before_ready_and_moves_nothing(
    tmp_path: Path,
) -> None:
    config = StackConfig(data_dir=tmp_path)
    pause_replication(config, True, direction=(EAST, WEST))
    _put(config, EAST, "input/a.csv", b"abc")
    stop = StopAfter(3)
    [ready] = _serve(config, [], stop)
    directions = ready["published"]["directions"]
    assert (directions[f"{EAST}->{WEST}"]["paused"], directions[f"{WEST}->{EAST}"]["paused"]) == (
        True,
        False,
    )
    assert stop.timeouts == [0.0, 0.1, 0.1]  # nothing moved: idle from the first round
    with pytest.raises(ObjectNotFoundError):
        open_region_store(config, WEST).head("input/a.csv")


def test_serve_waits_the_given_interval_between_idle_rounds(tmp_path: Path) -> None:
    stop = StopAfter(3)
    _serve(StackConfig(data_dir=tmp_path), ["--interval", "0.25"], stop)
    assert stop.timeouts == [0.0, 0.25, 0.25]


def test_serve_backs_off_while_rounds_fail(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    stop = StopAfter(4)
    _serve(config, ["--interval", "0.5"], stop, lambda: _drop_errors_table(config, WEST))
    assert stop.timeouts == [0.0, 1.0, 2.0, 4.0]
    assert read_replication_status(config)["errors"] == 3


def test_serve_refuses_an_interval_that_is_not_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = StopAfter(1)
    with pytest.raises(SystemExit) as exit_info:
        _serve(StackConfig(data_dir=tmp_path), ["--interval", "soon"], stop)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "replicator: error: argument --interval: invalid float value: 'soon'"
    )
    assert stop.timeouts == []


@pytest.mark.parametrize(("interval", "read_as"), [("0", "0.0"), ("-0.1", "-0.1")])
def test_serve_refuses_an_interval_that_is_not_positive(
    tmp_path: Path, interval: str, read_as: str
) -> None:
    stop = StopAfter(1)
    with pytest.raises(ConfigError) as refused:
        _serve(StackConfig(data_dir=tmp_path), ["--interval", interval], stop)
    assert str(refused.value) == f"replicator --interval must be positive, got {read_as}"
    assert stop.timeouts == []
    assert not (tmp_path / "run" / "replication.json").exists()


def test_a_failed_round_is_logged_with_its_direction_and_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = StackConfig(data_dir=tmp_path)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with open_directions(config) as directions:
        _drop_errors_table(config, EAST)
        ReplicatorLoop(config, directions).round()
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == (
        f"infrastructure error replicating {EAST}->{WEST}; retrying next round"
    )
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_a_status_that_cannot_be_written_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = StackConfig(data_dir=tmp_path)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with open_directions(config) as directions:
        (tmp_path / "run").write_text("a file where the run directory should be")
        loop = ReplicatorLoop(config, directions)
        loop.publish_safely(loop.paused_now())
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == "cannot publish the replication status; retrying next round"
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_each_status_that_cannot_be_written_is_counted(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    with open_directions(config) as directions:
        (tmp_path / "run").write_text("a file where the run directory should be")
        loop = ReplicatorLoop(config, directions)
        loop.publish_safely(loop.paused_now())
        loop.publish_safely(loop.paused_now())
    assert (loop.errors, loop.unexpected_errors, loop.last_error) == (2, 0, None)


def test_unreadable_parts_of_the_status_name_their_error_and_the_rest_is_reported(
    tmp_path: Path,
) -> None:
    config = StackConfig(data_dir=tmp_path)
    with open_directions(config) as directions:
        loop = ReplicatorLoop(config, directions)
        feed = ChangeFeed(config.feed_db(EAST))
        try:
            with feed._db.transaction() as conn:
                conn.execute("DROP TABLE deliveries")
        finally:
            feed.close()
        _drop_errors_table(config, WEST)
        loop.publish(loop.paused_now())
    status = read_replication_status(config)["directions"]
    east_west = status[f"{EAST}->{WEST}"]
    assert east_west["objects"]["latency_error"] == (
        f"StorageError: database {tmp_path}/{EAST}/feed.db: no such table: deliveries"
    )
    assert status[f"{WEST}->{EAST}"]["tables"]["errors"] == {
        "error": f"TableError: database {tmp_path}/{WEST}/tables.db: no such table: errors"
    }
    assert east_west["tables"]["batch_state"] == {  # the record's own names, and only those
        "items_pending": 0,
        "oldest_pending_age_seconds": 0.0,
        "applied": 0,
        "superseded": 0,
        "last_lag_seconds": 0.0,
        "worst_lag_seconds": 0.0,
    }
