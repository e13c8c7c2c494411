"""The whole primary-region flow on a real stack: upload through the access point, process
in the active region only, email, replicate; duplicates start nothing new."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
from stacktools import EAST, WEST, Stack

from mrbatch.job.runner import JobOptions, run_job
from mrbatch.ports import REPLICA
from mrbatch.runtime.operations.stackinfo import mail_messages
from mrbatch.runtime.wiring import open_region_store


def _executions(stack: Stack, region: str, name_part: str) -> int:
    """Main-orchestrator executions in `region` whose name contains `name_part`."""
    with sqlite3.connect(stack.config.workflows_db(region)) as db:
        rows = db.execute(
            "SELECT name FROM executions WHERE state_machine_arn LIKE '%:main_orchestrator'"
        ).fetchall()
    return sum(1 for (name,) in rows if name_part in name)


def test_file_is_processed_once_in_the_active_region(stack: Stack, tmp_path: Path) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    stack.upload("input/flow.csv", data)
    file_id = stack.file_id("input/flow.csv")
    stack.wait_status(EAST, file_id, "COMPLETED")

    # the output equals the pipeline run directly on the same data
    (tmp_path / "flow.csv").write_bytes(data)
    run_job(
        tmp_path / "flow.csv",
        stack.sample_dir / "testfile_financial_data.csv",
        tmp_path / "out",
        options=JobOptions(chunk_size=100),
    )
    expected = (tmp_path / "out" / "flow.csv").read_bytes()
    version = file_id.rsplit("#", 1)[1]
    output = f"output/completed/{version}/flow.csv"  # outputs are stored per file version
    east = open_region_store(stack.config, EAST)
    assert east.get_bytes(output) == expected

    # exactly one email, whose presigned link downloads the same bytes through the gateway
    mails = [m for m in mail_messages(stack.config.data_dir) if "flow.csv" in m["subject"]]
    assert len(mails) == 1
    link = re.search(r"https?://\S+", mails[0]["body"])
    assert link is not None
    assert httpx.get(link.group(0), timeout=30).content == expected
    tampered = link.group(0).replace("flow.csv", "flow2.csv")
    response = httpx.get(tampered, timeout=30)
    assert response.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.content

    # the output replicates to the standby, marked as a replica
    west = open_region_store(stack.config, WEST)
    stack.wait(lambda: _has(west, output), "the output replica")
    assert west.head(output).replication_status == REPLICA
    assert west.get_bytes(output) == expected

    # the standby saw the replica's event and skipped it; the state item replicated
    stack.wait(lambda: "skipped (standby)" in stack.log(WEST), "the standby to skip")
    stack.wait_status(WEST, file_id, "COMPLETED")
    assert _executions(stack, WEST, "flow") == 0


def test_duplicate_event_starts_nothing_new(stack: Stack) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    stack.upload("input/dup.csv", data)
    file_id = stack.file_id("input/dup.csv")
    stack.wait_status(EAST, file_id, "COMPLETED")
    east = open_region_store(stack.config, EAST)
    info = east.head("input/dup.csv")
    # deliver the same object-created event again, as S3 may
    east.feed.commit(east.feed.begin("input/dup.csv"), info)
    stack.wait(lambda: east.feed.backlog("trigger")[0] == 0, "the duplicate to be consumed")
    assert _executions(stack, EAST, "dup") == 1
    mails = [m for m in mail_messages(stack.config.data_dir) if "dup.csv" in m["subject"]]
    assert len(mails) == 1


def test_bad_file_fails_alone_with_a_reason(stack: Stack) -> None:
    stack.upload("input/bad.csv", b"not,the,right,header\n1,2,3,4\n")
    file_id = stack.file_id("input/bad.csv")
    stack.wait_status(EAST, file_id, "FAILED")
    item = stack.item(EAST, file_id)
    assert item is not None
    assert "header lacks" in str(item.get("cause"))
    east = open_region_store(stack.config, EAST)
    assert not [info.key for info in east.list("output/") if info.key.endswith("/bad.csv")]


def _has(store: object, key: str) -> bool:
    from mrbatch.errors import ObjectNotFoundError

    try:
        store.head(key)  # type: ignore[attr-defined]
    except ObjectNotFoundError:
        return False
    return True
