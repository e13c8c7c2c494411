"""`mrbatch logs` reads the JSON lines every process of a real stack writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stacktools import EAST, WEST, running_stack

from mrbatch.pipeline.sample import write_sample_files


def mrbatch_logs(data_dir: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", "logs", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_logs_show_each_region_s_view_of_a_file_filtered_by_region(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    with running_stack(data_dir) as stack:
        sample, _ = write_sample_files(tmp_path / "upload", "logged", 120, 3, 0.0)
        stack.upload("input/logged.csv", sample.read_bytes())
        file_id = stack.file_id("input/logged.csv")
        stack.wait_status(EAST, file_id, "COMPLETED")

        def both_logged() -> bool:
            text = mrbatch_logs(data_dir, "--file", file_id, "--json")
            return {json.loads(line)["region"] for line in text.splitlines()} == {EAST, WEST}

        stack.wait(both_logged, "both regions' trigger lines about the file")
        east = [json.loads(line) for line in mrbatch_logs(data_dir, "--region", EAST, "--json")
                .splitlines()]  # fmt: skip
        started = [e for e in east if e.get("file_id") == file_id and "execution" in e]
        assert len(started) == 1
        assert started[0]["epoch"] == 1 and started[0]["service"] == EAST
        assert {e["region"] for e in east} == {EAST}
        readable = mrbatch_logs(data_dir, "--region", WEST, "--file", "logged.csv")
        assert "skipped (standby)" in readable and f"file_id={file_id}" in readable
        assert "{" not in readable.splitlines()[0]  # human-readable, not JSON
