"""An automatic failover never stalls supervision: while its runbook waits for replication,
a dead replicator is restarted (so the wait ends in seconds, not at the SLA), and
`mrbatch down` stops every process, the runbook included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from detached import alive, detached_stack, kill_service, mrbatch, sample_financials, stack_record

from mrbatch.handlers import drill
from mrbatch.runtime.config import StackConfig, stack_run_dir
from mrbatch.runtime.operations.runbook import RunbookLog
from mrbatch.runtime.services.replicator import pause_replication
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.runtime.wiring import open_tables

EAST, WEST = "us-east-1", "us-west-2"


def _latest_runbook(config: StackConfig) -> dict[str, Any] | None:
    if not (config.data_dir / "runbooks.db").exists():
        return None
    runs = RunbookLog(config).executions()
    return runs[0] if runs else None


def _waiting_for_replication(config: StackConfig) -> bool:
    run = _latest_runbook(config)
    return run is not None and any(
        step["name"] == "WaitForReplication" and step["status"] == "InProgress"
        for step in run["steps"]
    )


def _statuses(config: StackConfig, region: str) -> list[str]:
    tables = open_tables(config, region)
    try:
        return [str(item["status"]) for item in tables.batch_state.scan()]
    finally:
        tables.close()


@pytest.fixture
def waiting_failover(tmp_path: Path) -> Iterator[StackConfig]:
    """A detached stack with auto-failover whose runbook is waiting for replication: one
    file is held mid-chunk in us-east-1, replication towards us-west-2 is paused, and
    us-east-1 has been killed."""
    sample, financials = sample_financials(tmp_path / "sample")
    options = ("--auto-failover", "--failure-threshold", "2")  # SLA: the default 900 s
    with detached_stack(tmp_path / "stack", financials, *options) as data_dir:
        config = StackConfig.load(data_dir)
        pause_replication(config, True, direction=(EAST, WEST))
        drill.arm(stack_run_dir(data_dir), "process_chunk", region=EAST)
        mrbatch("submit", str(sample), "--data-dir", str(data_dir))
        wait_until(
            lambda: drill.held(stack_run_dir(data_dir), "process_chunk") is not None,
            timeout=60,
            what="a chunk to be held in us-east-1",
        )
        kill_service(data_dir, EAST)
        wait_until(
            lambda: _waiting_for_replication(config),
            timeout=60,
            what="the auto-failover runbook to wait for replication",
        )
        try:
            yield config
        finally:
            drill.disarm(stack_run_dir(data_dir), "process_chunk")


def test_replicator_killed_during_auto_failover_wait_is_restarted(
    waiting_failover: StackConfig,
) -> None:
    config = waiting_failover
    killed = kill_service(config.data_dir, "replicator")
    pause_replication(config, False, direction=(EAST, WEST))

    wait_until(
        lambda: _statuses(config, WEST) == ["COMPLETED"],
        timeout=90,  # the SLA is 900 s: only a restarted replicator ends the wait this soon
        what="the file to complete in us-west-2",
    )
    run = _latest_runbook(config)
    assert run is not None
    assert (run["kind"], run["status"]) == ("failover", "Success")
    waited = run["steps"][1]["detail"]
    assert waited["pending"] == 0 and "timed_out" not in waited
    replicator = int(stack_record(config.data_dir)["pids"]["replicator"])
    assert replicator != killed and alive(replicator)


def test_down_during_auto_failover_wait_stops_every_process(
    waiting_failover: StackConfig,
) -> None:
    config = waiting_failover
    record = stack_record(config.data_dir)
    pids = {int(record["supervisor_pid"]), *map(int, record["pids"].values())}
    runbook = record.get("runbook") or {}
    pids |= {int(runbook["pid"])} if "pid" in runbook else set()

    down = mrbatch("down", "--data-dir", str(config.data_dir), check=False)

    assert down.returncode == 0, down.stderr
    assert "stack stopped" in down.stdout
    assert "pid" in runbook  # the runbook ran in its own process, listed in stack.json
    assert [pid for pid in pids if alive(pid)] == []
    assert not (config.data_dir / "stack.json").exists()
    run = _latest_runbook(config)
    assert run is not None and run["status"] == "Cancelled"
