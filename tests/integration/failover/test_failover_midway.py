"""Failover in the middle of a file's processing: the file completes once, in the new
region, with the same bytes as a single-region run, one email, one COMPLETED record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stacktools import EAST, WEST, Stack

from mrbatch.handlers import drill
from mrbatch.pipeline.job import JobOptions, run_job
from mrbatch.runtime.operations import mail_messages
from mrbatch.runtime.runbook import run_runbook
from mrbatch.runtime.wiring import open_region_store


def _expected_output(stack: Stack, tmp_path: Path, data: bytes, name: str) -> bytes:
    (tmp_path / name).write_bytes(data)
    run_job(
        tmp_path / name,
        stack.sample_dir / "testfile_financial_data.csv",
        tmp_path / "direct",
        options=JobOptions(chunk_size=100),
    )
    return (tmp_path / "direct" / name).read_bytes()


def _main_executions(stack: Stack, region: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(stack.config.workflows_db(region)) as db:
        return db.execute(
            "SELECT name, status, error FROM executions "
            "WHERE state_machine_arn LIKE '%:main_orchestrator' ORDER BY start_date"
        ).fetchall()


def test_failover_during_merge_completes_once_in_the_new_region(
    stack: Stack, tmp_path: Path
) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    drill.arm(stack.config.data_dir, "merge_all_files", region=EAST)
    stack.upload("input/mid.csv", data)
    stack.wait(lambda: drill.held(stack.config.data_dir, "merge_all_files") is not None, "merge")
    file_id = stack.file_id("input/mid.csv")

    result = run_runbook(stack.config, kind="failover", target=WEST, reason="drill", max_wait=30)
    drill.disarm(stack.config.data_dir, "merge_all_files")
    assert result["redriven"] == [file_id]
    assert result["missing"] == []
    stack.wait_status(WEST, file_id, "COMPLETED")
    stack.wait_status(EAST, file_id, "COMPLETED")  # the record replicates back

    expected = _expected_output(stack, tmp_path, data, "mid.csv")
    for region in (EAST, WEST):
        store = open_region_store(stack.config, region)
        stack.wait(lambda s=store: _same(s, "output/completed/mid.csv", expected), "outputs")
    mails = [m for m in mail_messages(stack.config.data_dir) if "mid.csv" in m["subject"]]
    assert len(mails) == 1
    assert stack.item(WEST, file_id)["completed_region"] == WEST  # type: ignore[index]
    # the old region's run was stopped, not completed
    stack.wait(lambda: _main_executions(stack, EAST)[0][1] != "RUNNING", "east to stop")
    [(_, status, _error)] = _main_executions(stack, EAST)
    assert status in ("ABORTED", "FAILED")
    assert [row[1] for row in _main_executions(stack, WEST)] == ["SUCCEEDED"]


def _same(store: object, key: str, expected: bytes) -> bool:
    from mrbatch.errors import ObjectNotFoundError

    try:
        return store.get_bytes(key) == expected  # type: ignore[attr-defined,no-any-return]
    except ObjectNotFoundError:
        return False
