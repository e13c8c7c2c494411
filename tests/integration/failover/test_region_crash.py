"""A region process SIGKILLed in the middle of a file, then a failover: the file completes
once in the other region; the access point keeps accepting uploads while the region is down
(they land in the other region) and none of them is lost; and when the killed region comes
back with its interrupted run, it commits nothing more."""

from __future__ import annotations

from pathlib import Path

from stacktools import EAST, WEST, Stack

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.operations.stackinfo import access_point_client
from mrbatch.runtime.services.gateway import region_alive
from mrbatch.runtime.wiring import open_region_store


def _served_by(stack: Stack, key: str) -> str:
    """The region the access point serves `key` from (the active one first, if it is up)."""
    client = access_point_client(stack.config)
    response = client.head_object(Bucket=stack.config.bucket_alias, Key=key)
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"])


def test_region_killed_mid_processing_then_failover_loses_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    drill.arm(stack.config.run_dir, "process_chunk", region=EAST, min_chunk=3)
    assert stack.upload("input/crash.csv", data) == EAST
    stack.wait(lambda: drill.held(stack.config.run_dir, "process_chunk") is not None, "hold")
    crashed = stack.file_id("input/crash.csv")

    stack.supervisor.kill(EAST)
    drill.disarm(stack.config.run_dir, "process_chunk")
    assert not region_alive(stack.config, EAST)
    stack.wait(lambda: _served_by(stack, "input/crash.csv") == WEST, "the access point to route")
    # us-east-1 is still the active region, but down: the access point stores in us-west-2
    assert stack.upload("input/while-down.csv", data) == WEST
    while_down = stack.file_id("input/while-down.csv", WEST)
    # the standby sees the upload's event before anyone fails over, and skips it
    west_feed = open_region_store(stack.config, WEST).feed
    stack.wait(lambda: west_feed.backlog("trigger")[0] == 0, "us-west-2's trigger")
    assert stack.item(WEST, while_down) is None

    result = run_runbook(stack.config, kind="failover", target=WEST, reason="crash", max_wait=30)
    # the crashed region's file is re-driven, and so is the one no region had recorded
    assert sorted(result["redriven"]) == sorted([crashed, while_down])
    assert result["unrecorded"] == [while_down]
    assert result["missing"] == []
    assert stack.upload("input/after.csv", data) == WEST
    after = stack.file_id("input/after.csv", WEST)

    expected = stack.expected_output(tmp_path, data, "crash.csv")  # the same for all three
    files = {
        "input/crash.csv": crashed,
        "input/while-down.csv": while_down,
        "input/after.csv": after,
    }
    for file_id in files.values():
        stack.wait_status(WEST, file_id, "COMPLETED")
    # the killed region comes back: its engine resumes the interrupted run, which is fenced
    stack.supervisor.restart(EAST)
    stack.wait_settled()
    for key, file_id in files.items():
        stack.assert_completed_once(key, file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost(list(files.values()))
    [east] = stack.executions(EAST)
    assert (east["input"]["fileId"], east["status"]) in ((crashed, "ABORTED"), (crashed, "FAILED"))
