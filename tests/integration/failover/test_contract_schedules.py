"""Schedules that once broke the correctness contract, run on a real stack:

- the routing control moved through the control API (not the runbook) while a file is held
  at the merge, to the other region and to the region already active;
- two versions of one key processed at once;
- identical bytes uploaded again (a new version with the same ETag), then a failover.

Each ends with the contract checked: every version COMPLETED once, its own output and one
email whose link downloads that version's rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from stacktools import EAST, WEST, Stack

from mrbatch.accesspoint import HttpRoutingControl
from mrbatch.handlers import drill
from mrbatch.ports import RoutingState
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.wiring import load_credentials, open_region_store, read_endpoints


def _set_active(stack: Stack, region: str, reason: str) -> RoutingState:
    """POST /control/active through the access point, as an operator's script would."""
    control = HttpRoutingControl(
        read_endpoints(stack.config)["gateway"], load_credentials(stack.config)
    )
    try:
        return control.set_active(region, reason)
    finally:
        control.close()


def _hold_at_merge(stack: Stack, key: str, data: bytes) -> str:
    drill.arm(stack.config.run_dir, "merge_all_files", region=EAST)
    assert stack.upload(key, data) == EAST
    stack.wait(lambda: drill.held(stack.config.run_dir, "merge_all_files") is not None, "hold")
    return stack.file_id(key)


def test_control_api_flip_mid_merge_is_reconciled_in_the_new_region(
    stack: Stack, tmp_path: Path
) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    file_id = _hold_at_merge(stack, "input/flip.csv", data)
    state = _set_active(stack, WEST, "operator script")
    assert (state.active_region, state.epoch) == (WEST, 2)
    drill.disarm(stack.config.run_dir, "merge_all_files")

    stack.wait_status(WEST, file_id, "COMPLETED")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "flip.csv")
    stack.assert_completed_once("input/flip.csv", file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])


def test_control_api_request_for_the_active_region_fences_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    file_id = _hold_at_merge(stack, "input/same.csv", data)
    state = _set_active(stack, EAST, "re-assert")
    assert (state.active_region, state.epoch) == (EAST, 1)  # no move, no new epoch
    drill.disarm(stack.config.run_dir, "merge_all_files")

    stack.wait_status(EAST, file_id, "COMPLETED")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "same.csv")
    stack.assert_completed_once("input/same.csv", file_id, expected, completed_in=EAST)
    assert [e["status"] for e in stack.executions(EAST)] == ["SUCCEEDED"]


def test_two_versions_of_a_key_keep_their_own_outputs_and_emails(
    stack: Stack, tmp_path: Path
) -> None:
    full = (stack.sample_dir / "testfile.csv").read_bytes()
    short = b"".join(full.splitlines(keepends=True)[:301])  # header + 300 rows
    first = _hold_at_merge(stack, "input/race.csv", full)
    assert stack.upload("input/race.csv", short) == EAST  # v2 while v1 waits to merge
    second = stack.file_id("input/race.csv")
    assert second != first
    stack.wait(lambda: stack.item(EAST, second) is not None, "v2 to be recorded")
    drill.disarm(stack.config.run_dir, "merge_all_files")  # both merge now, in any order
    for file_id in (first, second):
        stack.wait_status(EAST, file_id, "COMPLETED")
    stack.wait_settled()

    expected = {
        first.rsplit("#", 1)[1]: stack.expected_output(tmp_path / "v1", full, "race.csv"),
        second.rsplit("#", 1)[1]: stack.expected_output(tmp_path / "v2", short, "race.csv"),
    }
    emails = stack.emails("race.csv")
    assert len(emails) == 2
    for email in emails:
        version = re.search(r"\(version (\S+)\)", email["body"])
        link = re.search(r"https?://\S+", email["body"])
        assert version is not None and link is not None
        # each email's link downloads the rows of the version it names
        assert httpx.get(link.group(0), timeout=30).content == expected[version.group(1)]
    assert {re.search(r"\(version (\S+)\)", e["body"]).group(1) for e in emails} == set(expected)  # type: ignore[union-attr]
    east = open_region_store(stack.config, EAST)
    for version, rows in expected.items():
        assert east.get_bytes(f"output/completed/{version}/race.csv") == rows


def test_identical_reupload_then_failover_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    assert stack.upload("input/twice.csv", data) == EAST
    first = stack.file_id("input/twice.csv")
    stack.wait_status(EAST, first, "COMPLETED")

    drill.arm(stack.config.run_dir, "split_input_file", region=EAST)
    assert stack.upload("input/twice.csv", data) == EAST  # same bytes: a new version
    stack.wait(lambda: drill.held(stack.config.run_dir, "split_input_file") is not None, "hold")
    second = stack.file_id("input/twice.csv")
    version = second.rsplit("#", 1)[1]
    west = open_region_store(stack.config, WEST)
    stack.wait(lambda: west.head("input/twice.csv").version_id == version, "v2 replicated")

    run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    drill.disarm(stack.config.run_dir, "split_input_file")
    stack.wait_status(WEST, second, "COMPLETED")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, data, "twice.csv")
    stack.assert_completed_once("input/twice.csv", second, expected, completed_in=WEST)
    stack.assert_nothing_lost([first, second])
