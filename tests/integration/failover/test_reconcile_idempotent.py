"""Duplicate events and repeated reconciliation: re-driving a file is idempotent. However
many times reconciliation runs and the input is announced again, each file version gets one
main-orchestrator execution per epoch, one email, one COMPLETED record."""

from __future__ import annotations

from pathlib import Path

from stacktools import EAST, WEST, Stack

from mrbatch.handlers import drill
from mrbatch.handlers.naming import execution_name
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.reconcile import ReconcileResult, reconcile
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.wiring import open_region_store, open_tables


def _reconcile(config: StackConfig, region: str) -> ReconcileResult:
    tables = [open_tables(config, r) for r in config.regions]
    try:
        return reconcile(
            region=region,
            store=open_region_store(config, region),
            tables=[t.batch_state for t in tables],
            metrics=SqliteMetrics(config.data_dir / "metrics.db"),
        )
    finally:
        for t in tables:
            t.close()


def _announce_again(stack: Stack, region: str, key: str) -> None:
    """Deliver the input's object-created event again, as S3 may, and wait until the
    region's trigger has handled it."""
    store = open_region_store(stack.config, region)
    store.feed.commit(store.feed.begin(key), store.head(key))
    stack.wait(lambda: store.feed.backlog("trigger")[0] == 0, f"{region}'s trigger")


def test_repeated_reconciliation_and_duplicate_events_start_one_run_per_epoch(
    stack: Stack, tmp_path: Path
) -> None:
    data, key = (stack.sample_dir / "testfile.csv").read_bytes(), "input/again.csv"
    drill.arm(stack.config.run_dir, "split_input_file", region=EAST)
    drill.arm(stack.config.run_dir, "merge_all_files", region=WEST)
    stack.upload(key, data)
    stack.wait(lambda: drill.held(stack.config.run_dir, "split_input_file") is not None, "e1")
    file_id = stack.file_id(key)
    version = file_id.rsplit("#", 1)[1]

    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    assert result["redriven"] == [file_id]
    drill.disarm(stack.config.run_dir, "split_input_file")
    stack.wait(lambda: drill.held(stack.config.run_dir, "merge_all_files") is not None, "e2")
    # the file is unfinished in us-west-2: every reconciliation re-drives it again ...
    for _ in range(2):
        assert _reconcile(stack.config, WEST).redriven == [file_id]
    # ... and its event arrives again in both regions (the standby skips it)
    for region in (WEST, EAST):
        _announce_again(stack, region, key)
    drill.disarm(stack.config.run_dir, "merge_all_files")
    stack.wait_settled()

    expected = stack.expected_output(tmp_path, data, "again.csv")
    stack.assert_completed_once(key, file_id, expected, completed_in=WEST)
    assert [e["name"] for e in stack.executions(EAST)] == [execution_name(key, version, 1)]
    assert [e["name"] for e in stack.executions(WEST)] == [execution_name(key, version, 2)]

    # once the file is COMPLETED, nothing re-drives it and no event starts it again
    assert _reconcile(stack.config, WEST).redriven == []
    _announce_again(stack, WEST, key)
    stack.wait_settled()
    stack.assert_completed_once(key, file_id, expected, completed_in=WEST)
    assert len(stack.executions(WEST)) == 1
    stack.assert_nothing_lost([file_id])
