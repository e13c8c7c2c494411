"""Chaos blocks seen through a region's ports: each wrapper raises the error a real outage of
its dependency raises, only in its region and only until the block's end; `timeout` mode
hangs first (unless the caller must not wait); the record of experiments; the health
check notices a block."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.enrichment.api import EnrichmentUnavailableError
from mrbatch.errors import ConfigError, MailError, MrBatchError, StorageError, TableError
from mrbatch.notify.memory import MemoryNotifier
from mrbatch.ports import OutgoingEmail
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import (
    Block,
    Faults,
    FaultSwitch,
    FaultyFinancialSource,
    FaultyNotifier,
    FaultyObjectStore,
    FaultyTable,
    read_faults,
    write_faults,
)
from mrbatch.runtime.operations import chaos
from mrbatch.runtime.operations.experiments import ChaosLog
from mrbatch.runtime.services.health import check_region
from mrbatch.state.memory import MemoryTable
from mrbatch.state.schema import TableSpec
from mrbatch.storage.memory import MemoryObjectStore

EAST, WEST = "us-east-1", "us-west-2"
SPEC = TableSpec("t", ("id",), ("S",))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Financials:
    def lookup(self, uuids: object) -> dict[str, object]:
        return {}


def _switch(tmp_path: Path, clock: Clock, *blocks: Block, hang: bool = True) -> FaultSwitch:
    write_faults(tmp_path / "faults.json", Faults(tuple(blocks)))
    return FaultSwitch(
        tmp_path / "faults.json", EAST, hang=hang, clock=clock, sleep=clock.sleep,
        timeout_seconds=5,
    )  # fmt: skip


def test_each_wrapper_raises_its_outage_error_while_blocked(tmp_path: Path) -> None:
    clock = Clock()
    targets = ("objects", "tables", "api", "smtp")
    switch = _switch(tmp_path, clock, *(Block(EAST, t, "error", 1010.0, 7) for t in targets))
    store = FaultyObjectStore(MemoryObjectStore(), switch)
    table = FaultyTable(MemoryTable(SPEC), switch)
    with pytest.raises(StorageError, match="experiment 7"):
        store.put("k", b"x")
    with pytest.raises(StorageError):
        store.list_page("")
    with pytest.raises(TableError):
        table.get({"id": "a"})
    with pytest.raises(TableError):
        table.put({"id": "a"})
    with pytest.raises(EnrichmentUnavailableError):
        FaultyFinancialSource(Financials(), switch).lookup(["u"])  # type: ignore[arg-type]
    email = OutgoingEmail("a@example.com", ("b@example.com",), "s", "b")
    notifier = MemoryNotifier()
    with pytest.raises(MailError):
        FaultyNotifier(notifier, switch).send(email, idempotency_key="k")
    assert notifier.sent == {}


def test_a_block_ends_by_itself_at_its_end_time(tmp_path: Path) -> None:
    clock = Clock()
    switch = _switch(tmp_path, clock, Block(EAST, "objects", "error", 1010.0))
    store = FaultyObjectStore(MemoryObjectStore(), switch)
    with pytest.raises(StorageError):
        store.put("k", b"x")
    clock.now = 1010.0
    assert store.put("k", b"x").size == 1
    assert store.get_bytes("k") == b"x"


def test_a_block_touches_only_its_region_and_target(tmp_path: Path) -> None:
    clock = Clock()
    switch = _switch(
        tmp_path,
        clock,
        Block(WEST, "objects", "error", 2000.0),
        Block(EAST, "smtp", "error", 2000.0),
    )
    store = FaultyObjectStore(MemoryObjectStore(), switch)
    store.put("k", b"x")  # objects of us-east-1 are not blocked
    FaultyTable(MemoryTable(SPEC), switch).put({"id": "a"})


def test_timeout_mode_hangs_then_fails_unless_the_caller_must_not_wait(tmp_path: Path) -> None:
    clock = Clock()
    block = Block(EAST, "tables", "timeout", 1030.0)
    table = FaultyTable(MemoryTable(SPEC), _switch(tmp_path, clock, block))
    with pytest.raises(TableError, match="timed out"):
        table.scan()
    assert clock.slept == [5]
    quick = FaultyTable(MemoryTable(SPEC), _switch(tmp_path, clock, block, hang=False))
    with pytest.raises(TableError, match="unreachable"):
        quick.scan()
    assert clock.slept == [5]


def test_the_switch_sees_a_block_written_after_it_was_made(tmp_path: Path) -> None:
    clock = Clock()
    switch = _switch(tmp_path, clock)
    store = FaultyObjectStore(MemoryObjectStore(), switch)
    store.put("k", b"x")
    write_faults(tmp_path / "faults.json", Faults((Block(EAST, "objects", "error", 1999.0),)))
    with pytest.raises(StorageError):
        store.head("k")


def test_an_unreadable_faults_file_injects_nothing(tmp_path: Path) -> None:
    (tmp_path / "faults.json").write_text("{not json")
    assert read_faults(tmp_path / "faults.json") == Faults()
    assert read_faults(tmp_path / "missing.json") == Faults()


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    config = StackConfig(data_dir=tmp_path / "stack")
    config.save()
    return config


def test_block_all_records_the_experiment_and_blocks_every_target(config: StackConfig) -> None:
    experiment = chaos.block(config, EAST, "all", 30, mode="timeout")
    faults = read_faults(config.faults_file)
    assert sorted(b.target for b in faults.blocks) == ["api", "objects", "smtp", "tables"]
    assert {(b.region, b.mode, b.experiment) for b in faults.blocks} == {
        (EAST, "timeout", experiment.id)
    }
    log = ChaosLog(config)
    [recorded] = log.experiments()
    log.close()
    assert (recorded.kind, recorded.target, recorded.detail) == ("block", EAST, "all (timeout)")
    assert recorded.ends_at is not None
    assert recorded.ends_at - recorded.started_at == pytest.approx(30)
    assert recorded.in_force(recorded.started_at + 29)
    assert not recorded.in_force(recorded.started_at + 30)


def test_a_second_block_keeps_the_first_and_drops_expired_ones(config: StackConfig) -> None:
    write_faults(config.faults_file, Faults((Block(WEST, "api", "error", 1.0),)))
    chaos.block(config, EAST, "objects", 30)
    chaos.block(config, WEST, "tables", 30)
    blocks = read_faults(config.faults_file).blocks
    assert [(b.region, b.target) for b in blocks] == [(EAST, "objects"), (WEST, "tables")]


def test_heal_ends_one_experiments_blocks_now_and_records_the_end(config: StackConfig) -> None:
    first = chaos.block(config, EAST, "all", 300)
    second = chaos.block(config, WEST, "tables", 300)
    [ended] = chaos.heal(config, first.id)
    assert ended.id == first.id
    assert [(b.region, b.target) for b in read_faults(config.faults_file).blocks] == [
        (WEST, "tables")
    ]
    log = ChaosLog(config)
    by_id = {e.id: e for e in log.experiments()}
    log.close()
    assert by_id[first.id].ended_at is not None
    assert not by_id[first.id].in_force(by_id[first.id].ended_at + 0.001)
    assert by_id[second.id].ended_at is None


def test_heal_without_an_id_ends_every_block_and_refuses_an_unknown_one(
    config: StackConfig,
) -> None:
    chaos.block(config, EAST, "objects", 300)
    chaos.block(config, WEST, "smtp", 300)
    with pytest.raises(ConfigError, match="no block of experiment 99"):
        chaos.heal(config, 99)
    assert len(read_faults(config.faults_file).blocks) == 2
    assert len(chaos.heal(config)) == 2
    assert read_faults(config.faults_file).blocks == ()
    assert chaos.heal(config) == []


@pytest.mark.parametrize(
    ("region", "target", "duration", "mode"),
    [
        ("eu-west-1", "objects", 10, "error"),
        (EAST, "disk", 10, "error"),
        (EAST, "objects", 0, "error"),
        (EAST, "objects", 10, "slow"),
    ],
)
def test_block_refuses_bad_options(
    config: StackConfig, region: str, target: str, duration: float, mode: str
) -> None:
    with pytest.raises(ConfigError):
        chaos.block(config, region, target, duration, mode=mode)
    assert read_faults(config.faults_file) == Faults()


def test_replication_delay_is_set_recorded_and_cleared(config: StackConfig) -> None:
    chaos.replication_delay(config, 5)
    assert read_faults(config.faults_file).replication_delay_seconds == 5
    cleared = chaos.replication_delay(config, 0)
    assert read_faults(config.faults_file).replication_delay_seconds == 0
    log = ChaosLog(config)
    newest, first = log.experiments()
    log.close()
    assert cleared.ended_at is not None
    assert first.ended_at is not None  # setting the delay again ended the first one
    assert (newest.detail, first.detail) == ("0 s", "5 s")


def test_kill_without_a_running_stack_is_a_clear_error(config: StackConfig) -> None:
    with pytest.raises(MrBatchError, match="no stack is running"):
        chaos.kill(config, EAST)
    with pytest.raises(ConfigError, match="unknown service"):
        chaos.kill(config, "database")


def test_the_health_check_fails_while_the_region_is_blocked(config: StackConfig) -> None:
    chaos.block(config, EAST, "tables", 30, mode="timeout")
    failures = check_region(config, EAST).failures
    assert any("state table unreachable" in f and "chaos" in f for f in failures)
    assert not any("state table" in f for f in check_region(config, WEST).failures)
