"""Failover in the middle of a file's processing, at each step of the main orchestrator:
the file completes once, in the new region, with the same bytes as a single-region run, one
email, one COMPLETED record in both regions; the old region's run is stopped, not completed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacktools import CHUNK_PROCESSOR, EAST, WEST, Stack, read_or_none

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.wiring import open_region_store

SAMPLE_CHUNKS = [f"part-0000{n}-of-00006.csv" for n in range(1, 7)]  # 600 rows, 100 a chunk


def _fail_over_while_held(stack: Stack, key: str, step: str, **match: Any) -> str:
    """Upload the sample as `key`, hold it at `step` in us-east-1, fail over to us-west-2,
    then release the hold; returns the file id after checking the runbook re-drove it."""
    drill.arm(stack.config.run_dir, step, region=EAST, **match)
    assert stack.upload(key, _sample(stack)) == EAST
    stack.wait(lambda: drill.held(stack.config.run_dir, step) is not None, f"hold at {step}")
    file_id = stack.file_id(key)
    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    drill.disarm(stack.config.run_dir, step)
    assert result["redriven"] == [file_id]
    assert result["missing"] == []
    assert result["ReconciledFiles"] == 1
    assert result["epoch"] == 2
    return file_id


def _sample(stack: Stack) -> bytes:
    return (stack.sample_dir / "testfile.csv").read_bytes()


def _check_old_region_stopped(stack: Stack) -> None:
    """us-east-1's one run ended without success (fenced), us-west-2's one run succeeded."""
    [east] = stack.executions(EAST)
    assert east["status"] in ("ABORTED", "FAILED")
    assert east["input"]["epoch"] == 1
    assert [(e["status"], e["input"]["epoch"]) for e in stack.executions(WEST)] == [
        ("SUCCEEDED", 2)
    ]


def _reused_chunks(stack: Stack, region: str) -> dict[str, bool]:
    """Chunk name -> whether the region's chunk processor reused its replicated output."""
    runs = stack.executions(region, CHUNK_PROCESSOR)
    done = [run["output"]["chunk"] for run in runs if run["status"] == "SUCCEEDED"]
    return {chunk["name"]: chunk["reused"] for chunk in done}


def test_failover_during_split_completes_once_in_the_new_region(
    stack: Stack, tmp_path: Path
) -> None:
    file_id = _fail_over_while_held(stack, "input/split.csv", "split_input_file")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, _sample(stack), "split.csv")
    stack.assert_completed_once("input/split.csv", file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])
    _check_old_region_stopped(stack)
    assert stack.executions(EAST, CHUNK_PROCESSOR) == []  # us-east-1 never reached the Map
    assert _reused_chunks(stack, WEST) == dict.fromkeys(SAMPLE_CHUNKS, False)


def test_failover_during_chunk_map_reuses_replicated_chunks(stack: Stack, tmp_path: Path) -> None:
    key = "input/map.csv"
    drill.arm(stack.config.run_dir, "process_chunk", region=EAST, min_chunk=3)
    assert stack.upload(key, _sample(stack)) == EAST
    version = stack.file_id(key).rsplit("#", 1)[1]
    west = open_region_store(stack.config, WEST)
    first_two = [f"work/{version}/processed/{name}" for name in SAMPLE_CHUNKS[:2]]
    # chunks 1-2 are committed in us-east-1 and replicated before the failover
    stack.wait(lambda: all(read_or_none(west, k) is not None for k in first_two), "chunks 1-2")
    stack.wait(lambda: drill.held(stack.config.run_dir, "process_chunk") is not None, "hold")
    file_id = stack.file_id(key)
    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    drill.disarm(stack.config.run_dir, "process_chunk")
    assert result["redriven"] == [file_id]

    stack.wait_settled()
    expected = stack.expected_output(tmp_path, _sample(stack), "map.csv")
    stack.assert_completed_once(key, file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])
    _check_old_region_stopped(stack)
    # chunk-level resume: the new region reused chunks 1-2 and processed only the rest
    assert _reused_chunks(stack, WEST) == {
        name: index < 2 for index, name in enumerate(SAMPLE_CHUNKS)
    }
    assert all(not reused for reused in _reused_chunks(stack, EAST).values())
    assert set(_reused_chunks(stack, EAST)) == set(SAMPLE_CHUNKS[:2])


def test_failover_during_merge_completes_once_in_the_new_region(
    stack: Stack, tmp_path: Path
) -> None:
    file_id = _fail_over_while_held(stack, "input/mid.csv", "merge_all_files")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, _sample(stack), "mid.csv")
    stack.assert_completed_once("input/mid.csv", file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])
    _check_old_region_stopped(stack)
    # every chunk had been processed (and replicated) in us-east-1: nothing was redone
    assert _reused_chunks(stack, WEST) == dict.fromkeys(SAMPLE_CHUNKS, True)


def test_failover_just_before_the_email_sends_exactly_one(stack: Stack, tmp_path: Path) -> None:
    file_id = _fail_over_while_held(stack, "input/mail.csv", "email_the_file")
    stack.wait_settled()
    expected = stack.expected_output(tmp_path, _sample(stack), "mail.csv")
    stack.assert_completed_once("input/mail.csv", file_id, expected, completed_in=WEST)
    stack.assert_nothing_lost([file_id])
    _check_old_region_stopped(stack)
    assert _reused_chunks(stack, WEST) == dict.fromkeys(SAMPLE_CHUNKS, True)
