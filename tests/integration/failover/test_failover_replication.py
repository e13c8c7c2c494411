"""Failover while replication lags: the runbook does not wait forever, reports the file
whose input has not reached the new region as missing, and that file is driven by its
replica's own arrival — completed once, nothing lost."""

from __future__ import annotations

from pathlib import Path

from stacktools import EAST, WEST, Stack

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import RunbookLog, run_runbook
from mrbatch.runtime.services.replicator import pause_replication
from mrbatch.runtime.wiring import open_region_store


def test_failover_during_replication_delay_reports_missing_then_completes(
    stack: Stack, tmp_path: Path
) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    pause_replication(stack.config, True, direction=(EAST, WEST))
    # us-east-1 starts the file and is held at the split: it stays unfinished
    drill.arm(stack.config.run_dir, "split_input_file", region=EAST)
    assert stack.upload("input/late.csv", data) == EAST
    stack.wait(lambda: drill.held(stack.config.run_dir, "split_input_file") is not None, "hold")
    file_id = stack.file_id("input/late.csv")

    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=1)
    drill.disarm(stack.config.run_dir, "split_input_file")
    assert result["missing"] == [file_id]
    assert result["redriven"] == []
    assert result["ReconciledFiles"] == 0
    [run] = RunbookLog(stack.config).executions()
    wait_step = run["steps"][1]
    assert (wait_step["name"], wait_step["status"]) == ("WaitForReplication", "Success")
    assert wait_step["detail"]["timed_out"] is True
    assert wait_step["detail"]["pending"] >= 1
    # nothing happens in us-west-2 while the input is not there
    stack.wait_settled((EAST,))
    assert stack.executions(WEST) == []
    assert stack.item(EAST, file_id)["status"] == "INITIALIZED"  # type: ignore[index]

    pause_replication(stack.config, False, direction=(EAST, WEST))
    stack.wait_status(WEST, file_id, "COMPLETED")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "late.csv")
    stack.assert_completed_once("input/late.csv", file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])
    [east] = stack.executions(EAST)
    assert east["status"] in ("ABORTED", "FAILED")
    west_input = open_region_store(stack.config, WEST).head("input/late.csv")
    assert west_input.replication_status == "REPLICA"
