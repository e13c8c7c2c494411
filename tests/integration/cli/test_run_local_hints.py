"""The README's workflow commands in order: `run-local`, then `executions list`. run-local
keeps its executions in its own workflow database, so the plain `executions list` after it
found none and said only "no workflow database at .mrbatch/workflows.db"."""

from __future__ import annotations

from pathlib import Path

from detached import mrbatch

from mrbatch.pipeline.sample import write_sample_files


def test_run_local_and_executions_list_point_at_run_local_s_workflow_database(
    tmp_path: Path,
) -> None:
    data, fin = write_sample_files(tmp_path / "data", "orders", 50, 1, 0.0)
    ran = mrbatch("run-local", str(data), "--financials", str(fin), cwd=tmp_path)
    database = Path(".mrbatch") / "run-local" / "workflows.db"
    assert f"executions: mrbatch executions list --db {database}" in ran.stdout.splitlines()

    listed = mrbatch("executions", "list", check=False, cwd=tmp_path)
    assert listed.returncode == 1, listed
    assert listed.stderr.splitlines() == [
        f"error: no workflow database at {Path('.mrbatch') / 'workflows.db'};"
        f" `mrbatch run-local`'s executions are in --db {database}"
    ]
    assert (
        '"status": "SUCCEEDED"'
        in mrbatch("executions", "list", "--db", str(database), cwd=tmp_path).stdout
    )
