"""The admission queue in a real stack: with one file in flight, the others wait accepted
(INITIALIZED, no run); a SIGKILL of the region, or a failover, while they wait loses none
of them and runs none twice, and they are emailed in arrival order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stacktools import EAST, WEST, Stack, running_stack

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import run_runbook

KEYS = [f"input/queued{n}.csv" for n in range(3)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack", max_files_in_flight=1) as running:
        yield running


def _queue_behind_a_held_file(stack: Stack) -> tuple[bytes, list[str]]:
    """Upload KEYS while the first one's split is held: returns the data and file ids."""
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    drill.arm(stack.config.run_dir, "split_input_file", region=EAST, key=KEYS[0])
    ids = []
    for key in KEYS:
        assert stack.upload(key, data) == EAST
        ids.append(stack.file_id(key))
    stack.wait(lambda: drill.held(stack.config.run_dir, "split_input_file") is not None, "hold")
    stack.wait(lambda: all(stack.item(EAST, f) is not None for f in ids), "every file accepted")
    items = [stack.item(EAST, f) for f in ids]
    assert [item and item["status"] for item in items] == ["INITIALIZED"] * 3
    assert [e["input"]["fileId"] for e in stack.executions(EAST)] == ids[:1]  # one in flight
    return data, ids


def _completed_at(stack: Stack, region: str, file_id: str) -> float:
    item = stack.item(region, file_id)
    assert item is not None
    return float(item["completed_at"])


def test_queued_files_survive_a_region_kill_and_finish_in_arrival_order(
    stack: Stack, tmp_path: Path
) -> None:
    data, ids = _queue_behind_a_held_file(stack)
    stack.supervisor.kill(EAST)
    drill.disarm(stack.config.run_dir, "split_input_file")
    stack.supervisor.restart(EAST)
    for file_id in ids:
        stack.wait_status(EAST, file_id, "COMPLETED")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "queued0.csv")  # the same for all
    for key, file_id in zip(KEYS, ids, strict=True):
        stack.assert_completed_once(key, file_id, expected, completed_in=EAST)
    finished = [_completed_at(stack, EAST, f) for f in ids]
    assert finished == sorted(finished)  # first in, first out
    assert sorted(e["input"]["fileId"] for e in stack.executions(EAST)) == sorted(ids)
    stack.assert_nothing_lost(ids)


def test_queued_files_are_run_once_by_the_new_region_after_a_failover(stack: Stack) -> None:
    _data, ids = _queue_behind_a_held_file(stack)
    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    drill.disarm(stack.config.run_dir, "split_input_file")
    assert sorted(result["redriven"]) == sorted(ids)
    for file_id in ids:
        stack.wait_status(WEST, file_id, "COMPLETED")
    stack.wait_settled()
    succeeded = [
        (region, e["input"]["fileId"])
        for region in (EAST, WEST)
        for e in stack.executions(region)
        if e["status"] == "SUCCEEDED"
    ]
    assert sorted(succeeded) == sorted((WEST, f) for f in ids)
    # the queued files never ran in the region that lost activation
    assert [e["input"]["fileId"] for e in stack.executions(EAST)] == ids[:1]
    for key in KEYS:
        assert len(stack.emails(key.removeprefix("input/"))) == 1
    stack.assert_nothing_lost(ids)
