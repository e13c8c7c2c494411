"""The stack's data directory is private to the user who runs it: the directory is 0700,
every file the stack and its processes create is owner-only, and no log carries the
secret key (whoever reads it could use the access point and derive the control token)."""

from __future__ import annotations

import contextlib
import json
import stat
from pathlib import Path

from detached import detached_stack, mrbatch, sample_financials

from mrbatch.runtime.services.supervisor import wait_until


def _exposed(data_dir: Path) -> list[str]:
    """Paths under `data_dir` that anyone but the owner may read, write or enter."""
    exposed = []
    for path in data_dir.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # temp files come and go meanwhile
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                exposed.append(f"{path.relative_to(data_dir)} {stat.filemode(mode)}")
    return exposed


def test_data_directory_is_owner_only_after_a_detached_run(tmp_path: Path) -> None:
    sample, financials = sample_financials(tmp_path / "sample")
    with detached_stack(tmp_path / "stack", financials) as data_dir:
        mrbatch("submit", str(sample), "--data-dir", str(data_dir))

        def completed() -> bool:
            rows = json.loads(mrbatch("files", "--data-dir", str(data_dir), "--json").stdout)
            return any(r["status"] == "COMPLETED" for r in rows)

        wait_until(completed, timeout=60, what="the file to complete")
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert _exposed(data_dir) == []


def test_detached_log_names_the_credentials_file_instead_of_the_secret(tmp_path: Path) -> None:
    _, financials = sample_financials(tmp_path / "sample")
    with detached_stack(tmp_path / "stack", financials) as data_dir:
        credentials = json.loads((data_dir / "credentials.json").read_text())
        secret = credentials["secret_access_key"]
        log = (data_dir / "supervisor.log").read_text()
        assert credentials["access_key_id"] in log
        assert str(data_dir / "credentials.json") in log
        logs = [data_dir / "supervisor.log", *(data_dir / "run").glob("*.log")]
        assert [p.name for p in logs if secret in p.read_text()] == []
