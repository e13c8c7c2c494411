"""A stack whose processes are down: a command that talks to it says in one line which
service does not answer and what to do, instead of a client library's traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mrbatch.pipeline.sample import write_sample_files


def mrbatch(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=check,
    )


def test_submit_names_the_unreachable_access_point_when_the_stack_is_down(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "stack"
    data, _ = write_sample_files(tmp_path / "sample", "orders", 20, 1, 0.0)
    mrbatch("up", "--detach", "--data-dir", str(data_dir))
    try:
        mrbatch("down", "--data-dir", str(data_dir))
        result = mrbatch("submit", str(data), "--data-dir", str(data_dir), check=False)
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the access point at http://127.0.0.1:")
    assert "does not answer" in lines[0]
    assert "mrbatch status" in lines[0] and "mrbatch up --detach" in lines[0]
