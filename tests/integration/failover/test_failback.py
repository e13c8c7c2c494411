"""Failback while the region being left still has work in flight: the file completes once
in the region failed back to; the work held in the old region, released afterwards, commits
nothing (no second email, no second COMPLETED, the output unchanged)."""

from __future__ import annotations

from pathlib import Path

from stacktools import CHUNK_PROCESSOR, EAST, WEST, Stack

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import run_runbook


def test_failback_with_work_in_flight_completes_once(stack: Stack, tmp_path: Path) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    failover = run_runbook(stack.config, kind="failover", target=WEST, reason="drill")
    assert (failover["epoch"], failover["redriven"], failover["missing"]) == (2, [], [])

    # us-west-2, now active, takes the upload and is held just before its email
    drill.arm(stack.config.run_dir, "email_the_file", region=WEST)
    assert stack.upload("input/back.csv", data) == WEST
    stack.wait(lambda: drill.held(stack.config.run_dir, "email_the_file") is not None, "hold")
    file_id = stack.file_id("input/back.csv", WEST)

    failback = run_runbook(stack.config, kind="failback", target=EAST, reason="drill")
    assert failback["epoch"] == 3
    assert failback["redriven"] == [file_id]
    drill.disarm(stack.config.run_dir, "email_the_file")  # the held work goes on, fenced

    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "back.csv")
    stack.assert_completed_once("input/back.csv", file_id, expected, completed_in=EAST)
    stack.assert_nothing_lost([file_id])
    [west] = stack.executions(WEST)
    assert (west["status"], west["input"]["epoch"]) in (("ABORTED", 2), ("FAILED", 2))
    [east] = stack.executions(EAST)
    assert (east["status"], east["input"]["epoch"]) == ("SUCCEEDED", 3)
    # every chunk had been committed in us-west-2 and replicated back: reused, not redone
    reused = [run["output"]["chunk"]["reused"] for run in stack.executions(EAST, CHUNK_PROCESSOR)]
    assert reused == [True] * 6
