"""The README's main command (`mrbatch demo`) and the failover drill, end to end on real
processes, small enough to run in the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def mrbatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_processes_a_file_and_checks_the_downloaded_output(tmp_path: Path) -> None:
    done = mrbatch("demo", "--data-dir", str(tmp_path / "demo"), "--rows", "1000", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "COMPLETED"
    assert report["region"] == "us-east-1"
    assert report["output_matches_direct_run"] is True
    assert report["counts"]["rowsRead"] == 1000
    assert (
        sum(report["counts"][k] for k in ("rowsWritten", "rowsInvalid", "rowsNotEnriched")) == 1000
    )
    assert not (tmp_path / "demo" / "stack.json").exists()  # the stack was stopped


def test_demo_refuses_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = mrbatch("demo", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert "is not empty and not an mrbatch data directory" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_drill_fails_over_and_back_without_losing_or_doubling(tmp_path: Path) -> None:
    done = mrbatch(
        "drill", "--data-dir", str(tmp_path / "drill"), "--files", "4", "--rows", "400", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is True, report["violations"]
    assert (report["rpo_files_lost"], report["duplicate_emails"]) == (0, 0)
    assert report["outputs_identical"] is True
    assert report["completed_records"] == {"us-east-1": 4, "us-west-2": 4}
