"""The stack commands as a user runs them: `mrbatch up --detach`, `status`, `submit`,
`files`, `mail`, `url`, automatic failover when the active region dies, and `down`."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from detached import mrbatch

from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.services.supervisor import wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "stack"
    _, financials = write_sample_files(tmp_path / "sample", "cli", 300, 3, 0.0)
    mrbatch(
        "up", "--detach", "--data-dir", str(data_dir), "--financials", str(financials),
        "--chunk-size", "100", "--auto-failover", "--failure-threshold", "2",
    )  # fmt: skip
    record = json.loads((data_dir / "stack.json").read_text())
    try:
        yield data_dir
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)
        for pid in [record["supervisor_pid"], *record["pids"].values()]:
            if _alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)


def _status(data_dir: Path) -> dict[str, Any]:
    return json.loads(mrbatch("status", "--data-dir", str(data_dir), "--json").stdout)  # type: ignore[no-any-return]


def test_user_session_with_automatic_failover(stack_dir: Path, tmp_path: Path) -> None:
    status = _status(stack_dir)
    assert status["routing"]["active_region"] == "us-east-1"
    assert status["stack"]["credentials"]["aws_access_key_id"].startswith("MRBK")

    submitted = mrbatch(
        "submit", str(tmp_path / "sample" / "cli.csv"), "--data-dir", str(stack_dir)
    )
    assert "uploaded" in submitted.stdout and "input/cli.csv" in submitted.stdout

    def completed() -> bool:
        rows = json.loads(mrbatch("files", "--data-dir", str(stack_dir), "--json").stdout)
        return any(r["status"] == "COMPLETED" and r["table_region"] == "us-east-1" for r in rows)

    wait_until(completed, timeout=60, what="the file to complete")
    metrics = _status(stack_dir)["metrics"]
    assert metrics["us-east-1"]["InputFilesSplit"] == metrics["us-east-1"]["ProcessedFiles"] == 1
    assert metrics["us-east-1"]["EmailSent"] == 1
    assert metrics["us-east-1"]["main_orchestrator.SUCCEEDED"] == 1
    assert metrics["us-east-1"]["chunk_processor_batched.SUCCEEDED"] == 3
    assert metrics["us-west-2"]["ProcessedFiles"] == 0
    assert "main_orchestrator.SUCCEEDED" not in metrics["us-west-2"]
    mail = mrbatch("mail", "--data-dir", str(stack_dir)).stdout
    assert "cli.csv is processed" in mail
    link = mrbatch("url", "cli.csv", "--data-dir", str(stack_dir)).stdout.strip()
    body = httpx.get(link, timeout=30).content
    assert body.startswith(b"uuid,Country,Item Type")
    assert body.count(b"\n") == 301  # header + 300 rows, all valid and enriched

    # the active region dies: after 2 failed health checks the stack fails over by itself
    os.killpg(int(status["stack"]["regions"]["us-east-1"]["pid"]), signal.SIGKILL)
    wait_until(
        lambda: _status(stack_dir)["routing"]["active_region"] == "us-west-2",
        timeout=60,
        what="automatic failover",
    )
    runs = json.loads(mrbatch("runbooks", "--data-dir", str(stack_dir), "--json").stdout)
    assert runs[0]["kind"] == "failover" and runs[0]["status"] == "Success"
    assert runs[0]["reason"].startswith("auto-failover: us-east-1 failed 2 health checks")
    assert [step["name"] for step in runs[0]["steps"]] == [
        "FlipRoutingControl",
        "WaitForReplication",
        "Reconcile",
    ]

    down = mrbatch("down", "--data-dir", str(stack_dir))
    assert "stack stopped" in down.stdout
    record = json.loads((stack_dir / "config.json").read_text())
    assert record["regions"] == ["us-east-1", "us-west-2"]
    assert not (stack_dir / "stack.json").exists()
