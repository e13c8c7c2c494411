"""Takeover: the region active under a new epoch reconciles it once, and everyone asking
about that epoch gets the same result. Run in process over a stack's local files (SQLite
routing control, tables, change feeds and buckets in a temporary data directory)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.errors import ConfigError
from mrbatch.model import BatchFile, FileStatus
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.reconcile import ReconcileResult
from mrbatch.runtime.operations.takeover import TakeoverLog, TakeoverWatch, take_over
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.wiring import open_region_store, open_routing, open_tables

EAST, WEST = "us-east-1", "us-west-2"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig(data_dir=tmp_path, replication_sla_seconds=900.0)


@pytest.fixture
def takeovers(config: StackConfig) -> Iterator[tuple[TakeoverLog, Clock]]:
    clock = Clock(1000.0)
    log = TakeoverLog(config, clock=clock)
    yield log, clock
    log.close()


def _upload(config: StackConfig, region: str, key: str, body: bytes = b"id\n1\n") -> str:
    """Put an input object in `region`'s bucket (recorded in its change feed): its version."""
    store = open_region_store(config, region)
    try:
        return store.put(key, body).version_id
    finally:
        store.feed.close()


def _record(config: StackConfig, region: str, key: str, version: str, epoch: int) -> str:
    """A RUNNING batch-state record for the file version in `region`'s table: its id."""
    tables = open_tables(config, region)
    try:
        record = BatchFile(
            file_id=f"{key}#{version}", key=key, version_id=version,
            status=FileStatus.RUNNING, region=region, epoch=epoch, created_at=1.0,
            updated_at=1.0,
        )  # fmt: skip
        tables.batch_state.put(record.to_item())
        return record.file_id
    finally:
        tables.close()


def _failover(config: StackConfig, to: str) -> float:
    """Move the routing control to `to`; when it moved."""
    routing = open_routing(config)
    try:
        return routing.set_active(to, "test").changed_at
    finally:
        routing.close()


# --- TakeoverLog -------------------------------------------------------------------------


def test_first_claim_of_an_epoch_wins_and_a_fresh_claim_is_refused(
    takeovers: tuple[TakeoverLog, Clock],
) -> None:
    log, clock = takeovers
    assert log.claim(2, WEST) is True
    clock.now += 59.0
    assert log.claim(2, EAST) is False
    assert log.claim(3, EAST) is True  # another epoch is another claim


def test_a_claim_without_a_result_for_sixty_seconds_may_be_taken_again(
    takeovers: tuple[TakeoverLog, Clock],
) -> None:
    log, clock = takeovers
    assert log.claim(2, WEST) is True
    clock.now += 60.5  # the claimer died before recording a result
    assert log.claim(2, EAST) is True
    clock.now += 30.0  # the new claim is fresh again
    assert log.claim(2, WEST) is False


def test_an_epoch_with_a_result_is_never_claimed_again(
    takeovers: tuple[TakeoverLog, Clock],
) -> None:
    log, clock = takeovers
    log.claim(2, WEST)
    log.record(2, WEST, ReconcileResult(WEST))
    clock.now += 3600.0
    assert log.claim(2, EAST) is False


def test_result_is_none_until_recorded_then_reads_back_every_field(
    takeovers: tuple[TakeoverLog, Clock],
) -> None:
    log, _ = takeovers
    assert log.result(2) is None
    log.claim(2, WEST)
    assert log.result(2) is None  # claimed, not done
    done = ReconcileResult(
        WEST, redriven=["input/a.csv#1", "input/b.csv#1"], missing=["input/c.csv#9"],
        unrecorded=["input/b.csv#1"], already_present=3,
    )  # fmt: skip
    log.record(2, WEST, done)
    assert log.result(2) == ReconcileResult(
        "us-west-2", redriven=["input/a.csv#1", "input/b.csv#1"], missing=["input/c.csv#9"],
        unrecorded=["input/b.csv#1"], already_present=3,
    )  # fmt: skip
    assert log.result(3) is None


def test_the_latest_record_of_an_epoch_wins(takeovers: tuple[TakeoverLog, Clock]) -> None:
    log, _ = takeovers
    log.record(2, WEST, ReconcileResult(WEST, redriven=["input/a.csv#1"]))
    log.record(2, WEST, ReconcileResult(WEST, missing=["input/a.csv#1"]))
    assert log.result(2) == ReconcileResult(WEST, missing=["input/a.csv#1"])


def test_the_log_is_shared_through_the_stacks_file(config: StackConfig) -> None:
    first, second = TakeoverLog(config), TakeoverLog(config)
    try:
        assert first.claim(2, WEST) is True
        assert second.claim(2, EAST) is False
        first.record(2, WEST, ReconcileResult(WEST, redriven=["input/a.csv#1"]))
        assert second.result(2) == ReconcileResult(WEST, redriven=["input/a.csv#1"])
    finally:
        first.close()
        second.close()
    assert config.takeovers_db == config.data_dir / "takeovers.db"
    assert config.takeovers_db.is_file()


# --- take_over ---------------------------------------------------------------------------


def test_take_over_reconciles_into_the_region_and_records_the_result(
    config: StackConfig,
) -> None:
    version = _upload(config, WEST, "input/a.csv")  # uploaded while WEST was standby
    running = _record(config, EAST, "input/b.csv", "v1", 1)  # input never replicated
    result = take_over(config, WEST, 2)
    fid = f"input/a.csv#{version}"
    assert result == ReconcileResult(WEST, redriven=[fid], missing=[running], unrecorded=[fid])
    log = TakeoverLog(config)
    try:
        assert log.result(2) == result
    finally:
        log.close()


def test_take_over_of_a_reconciled_epoch_returns_its_result_without_redriving(
    config: StackConfig,
) -> None:
    _upload(config, WEST, "input/a.csv")
    first = take_over(config, WEST, 2)
    _upload(config, WEST, "input/late.csv")  # would be re-driven by a second pass
    assert take_over(config, WEST, 2) == first


def test_take_over_while_another_caller_reconciles_gives_up_after_its_wait(
    config: StackConfig,
) -> None:
    _upload(config, WEST, "input/a.csv")
    log = TakeoverLog(config)
    try:
        log.claim(2, EAST)  # the runbook is reconciling this epoch right now
        assert take_over(config, WEST, 2, wait=0) is None
        assert log.result(2) is None  # nothing was reconciled by this call
    finally:
        log.close()


def test_take_over_waits_for_the_result_of_another_caller(config: StackConfig) -> None:
    log = TakeoverLog(config)
    theirs = ReconcileResult(WEST, redriven=["input/theirs.csv#1"])
    log.claim(2, WEST)
    recorded = threading.Event()

    def finish_theirs() -> None:
        second = TakeoverLog(config)
        try:
            second.record(2, WEST, theirs)
        finally:
            second.close()
            recorded.set()

    timer = threading.Timer(0.2, finish_theirs)
    timer.start()
    try:
        assert take_over(config, WEST, 2, wait=30.0) == theirs
        assert recorded.is_set()
    finally:
        timer.join()
        log.close()


# --- TakeoverWatch -----------------------------------------------------------------------


def _watch(config: StackConfig, region: str, clock: Clock) -> TakeoverWatch:
    return TakeoverWatch(config, region, clock=clock, check_every=0.5)


def test_watch_of_the_standby_region_does_nothing(config: StackConfig) -> None:
    _upload(config, WEST, "input/a.csv")
    watch = _watch(config, WEST, Clock(1e12))
    try:
        assert watch.tick() is None  # EAST is active under epoch 1
    finally:
        watch.close()
    log = TakeoverLog(config)
    try:
        assert log.result(1) is None
    finally:
        log.close()


def test_watch_reconciles_a_new_epoch_once_when_nothing_is_replicating(
    config: StackConfig,
) -> None:
    version = _upload(config, WEST, "input/a.csv")
    changed_at = _failover(config, WEST)
    clock = Clock(changed_at + 1.0)
    watch = _watch(config, WEST, clock)
    try:
        fid = f"input/a.csv#{version}"
        assert watch.tick() == ReconcileResult(WEST, redriven=[fid], unrecorded=[fid])
        clock.now += 10.0
        assert watch.tick() is None  # this epoch is done
    finally:
        watch.close()


def test_watch_redrives_a_stale_claim_that_arrives_after_the_takeover(
    config: StackConfig,
) -> None:
    """Torture seed 346705521: the epoch is reconciled with nothing to do, then an older
    epoch's unfinished record replicates in; the sweep re-announces it once the sweep
    interval has passed, and never a record of the current epoch."""
    version = _upload(config, WEST, "input/a.csv")
    current = _upload(config, WEST, "input/b.csv")
    changed_at = _failover(config, WEST)  # epoch 2
    clock = Clock(changed_at + 1.0)
    watch = TakeoverWatch(config, WEST, clock=clock, check_every=0.5, sweep_every=5.0)
    feed = open_region_store(config, WEST).feed
    try:
        assert watch.tick() is not None  # the takeover of epoch 2 (both inputs unrecorded)
        seen = len(feed.read("probe"))
        _record(config, WEST, "input/a.csv", version, epoch=1)  # replicated in, stale
        _record(config, WEST, "input/b.csv", current, epoch=2)  # this epoch's own run
        clock.now += 1.0
        watch.tick()  # the first sweep, right after the takeover: both records are new here
        announced = [(e.key, e.version_id) for e in feed.read("probe")[seen:]]
        assert announced == [("input/a.csv", version)]
        clock.now += 1.0
        watch.tick()  # within the sweep interval: nothing more
        assert len(feed.read("probe")) == seen + 1
        clock.now += 5.0
        watch.tick()
        assert len(feed.read("probe")) == seen + 2  # still unfinished: announced again
    finally:
        feed.close()
        watch.close()


def test_watch_checks_at_most_every_check_interval(config: StackConfig) -> None:
    changed_at = _failover(config, WEST)
    clock = Clock(changed_at + 1.0)
    watch = TakeoverWatch(config, EAST, clock=clock, check_every=5.0)
    try:
        assert watch.tick() is None  # EAST is standby under epoch 2
        _failover(config, EAST)  # epoch 3: EAST is active again
        clock.now += 4.9
        assert watch.tick() is None  # too soon to look again
        clock.now += 0.1
        assert watch.tick() == ReconcileResult(EAST)
    finally:
        watch.close()


def test_watch_waits_for_replication_of_unfinished_files_until_the_sla(
    config: StackConfig,
) -> None:
    version = _upload(config, EAST, "input/a.csv")  # not replicated to WEST yet
    fid = _record(config, EAST, "input/a.csv", version, 1)
    changed_at = _failover(config, WEST)
    clock = Clock(changed_at + 899.0)
    watch = _watch(config, WEST, clock)
    try:
        assert watch.tick() is None  # its input is still on its way from EAST
        clock.now = changed_at + 900.0  # the SLA has passed: stop waiting
        assert watch.tick() == ReconcileResult(WEST, missing=[fid])
    finally:
        watch.close()


def test_watch_leaves_an_epoch_the_runbook_is_reconciling_and_adopts_its_result(
    config: StackConfig,
) -> None:
    _upload(config, WEST, "input/a.csv")
    changed_at = _failover(config, WEST)
    clock = Clock(changed_at + 1.0)
    log = TakeoverLog(config)
    watch = _watch(config, WEST, clock)
    try:
        log.claim(2, WEST)  # the runbook claimed epoch 2
        assert watch.tick() is None
        log.record(2, WEST, ReconcileResult(WEST, redriven=["input/x.csv#1"]))
        clock.now += 1.0
        assert watch.tick() is None  # the runbook's result stands; nothing is redone
        assert log.result(2) == ReconcileResult(WEST, redriven=["input/x.csv#1"])
    finally:
        watch.close()
        log.close()


def test_watch_refuses_a_region_the_stack_does_not_have(config: StackConfig) -> None:
    with pytest.raises(ConfigError, match="unknown region 'eu-west-1'"):
        TakeoverWatch(config, "eu-west-1")


def test_a_claim_sixty_seconds_old_without_a_result_may_be_taken_again(
    takeovers: tuple[TakeoverLog, Clock],
) -> None:
    # the boundary as the code draws it (stale from 60 s on); the docstrings say "older
    # than", which differs only at this one instant
    log, clock = takeovers
    assert log.claim(2, WEST) is True
    clock.now += 60.0
    assert log.claim(2, EAST) is True


def test_take_over_gives_up_within_its_wait_when_the_other_caller_never_finishes(
    config: StackConfig,
) -> None:
    log = TakeoverLog(config)
    try:
        log.claim(2, EAST)  # a runbook that claimed the epoch and hangs
        started = time.monotonic()
        assert take_over(config, WEST, 2, wait=0.3) is None
        assert time.monotonic() - started < 0.95  # the wait, plus one short poll
    finally:
        log.close()


class Sleeper:
    """A sleep that moves a `Clock` on instead of waiting, and records each pause."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.now += seconds


def test_take_over_with_no_wait_reads_the_claim_once_and_never_sleeps(
    config: StackConfig,
) -> None:
    log = TakeoverLog(config)
    clock = Clock(50.0)  # does not move unless slept: the deadline is reached at once
    sleeper = Sleeper(clock)
    try:
        log.claim(2, EAST)
        assert take_over(config, WEST, 2, wait=0, clock=clock, sleep=sleeper) is None
        assert sleeper.pauses == []
    finally:
        log.close()


def test_take_over_polls_every_fifty_milliseconds_until_its_wait_is_over(
    config: StackConfig,
) -> None:
    log = TakeoverLog(config)
    clock = Clock(0.0)
    sleeper = Sleeper(clock)
    try:
        log.claim(2, EAST)
        assert take_over(config, WEST, 2, wait=0.1, clock=clock, sleep=sleeper) is None
        assert sleeper.pauses == [0.05, 0.05]  # looked at 0, 0.05 and 0.1 (the deadline)
    finally:
        log.close()


def test_take_over_redrives_the_stacks_configured_input_suffixes(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, input_suffixes=(".txt",))
    version = _upload(config, WEST, "input/a.txt")
    _upload(config, WEST, "input/b.csv")  # not an input of this stack
    fid = f"input/a.txt#{version}"
    assert take_over(config, WEST, 2) == ReconcileResult(WEST, redriven=[fid], unrecorded=[fid])


def test_watch_looks_at_once_then_every_half_second_by_default(config: StackConfig) -> None:
    _failover(config, WEST)
    _failover(config, EAST)  # epoch 3: EAST is active again
    clock = Clock(0.0)  # a clock reading zero: the first tick still looks
    watch = TakeoverWatch(config, EAST, clock=clock)
    try:
        assert watch.tick() == ReconcileResult(EAST)  # epoch 3
        _failover(config, WEST)
        _failover(config, EAST)  # epoch 5
        clock.now = 0.4
        assert watch.tick() is None  # too soon to look again
        clock.now = 0.5
        assert watch.tick() == ReconcileResult(EAST)  # epoch 5
    finally:
        watch.close()


def test_watch_does_not_wait_for_objects_already_replicated(config: StackConfig) -> None:
    version = _upload(config, EAST, "input/a.csv")
    fid = _record(config, EAST, "input/a.csv", version, 1)
    feed = ChangeFeed(config.feed_db(EAST))
    try:
        [change] = feed.read(f"replicate-to-{WEST}")
        feed.ack(f"replicate-to-{WEST}", change.seq)  # WEST's replicator has copied it
    finally:
        feed.close()
    changed_at = _failover(config, WEST)
    watch = _watch(config, WEST, Clock(changed_at + 1.0))  # well within the SLA
    try:
        assert watch.tick() == ReconcileResult(WEST, missing=[fid])
    finally:
        watch.close()


def test_watch_returns_at_once_while_the_runbook_reconciles(config: StackConfig) -> None:
    changed_at = _failover(config, WEST)
    log = TakeoverLog(config)
    watch = _watch(config, WEST, Clock(changed_at + 1.0))
    try:
        log.claim(2, WEST)
        started = time.monotonic()
        assert watch.tick() is None
        assert time.monotonic() - started < 0.9  # the region's loop is not held up
    finally:
        watch.close()
        log.close()


def test_watch_logs_what_its_takeover_did(
    config: StackConfig, caplog: pytest.LogCaptureFixture
) -> None:
    _upload(config, WEST, "input/a.csv")
    _record(config, EAST, "input/b.csv", "v1", 1)
    changed_at = _failover(config, WEST)
    caplog.set_level(logging.INFO, logger="mrbatch.runtime.operations.takeover")
    watch = _watch(config, WEST, Clock(changed_at + 1.0))
    try:
        watch.tick()
    finally:
        watch.close()
    assert [r.getMessage() for r in caplog.records if r.name.endswith("takeover")] == [
        "took over epoch 2: 1 re-driven, 1 missing"
    ]
