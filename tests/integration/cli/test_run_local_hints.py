"""The README's workflow commands in order: `run-local`, then `executions list`. run-local
keeps its executions in its own workflow database, so the plain `executions list` after it
found none and said only "no workflow database at .mrbatch/workflows.db"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mrbatch.pipeline.sample import write_sample_files


def mrbatch(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=check,
        cwd=cwd,
    )


def test_run_local_and_executions_list_point_at_run_local_s_workflow_database(
    tmp_path: Path,
) -> None:
    data, fin = write_sample_files(tmp_path / "data", "orders", 50, 1, 0.0)
    ran = mrbatch(tmp_path, "run-local", str(data), "--financials", str(fin))
    database = Path(".mrbatch") / "run-local" / "workflows.db"
    assert f"executions: mrbatch executions list --db {database}" in ran.stdout.splitlines()

    listed = mrbatch(tmp_path, "executions", "list", check=False)
    assert listed.returncode == 1, listed
    assert listed.stderr.splitlines() == [
        f"error: no workflow database at {Path('.mrbatch') / 'workflows.db'};"
        f" `mrbatch run-local`'s executions are in --db {database}"
    ]
    assert (
        '"status": "SUCCEEDED"'
        in mrbatch(tmp_path, "executions", "list", "--db", str(database)).stdout
    )
