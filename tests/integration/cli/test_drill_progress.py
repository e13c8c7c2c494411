"""`mrbatch drill` says what it is doing, phase by phase, before its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_drill_prints_each_phase_in_order_before_its_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", "drill", "--data-dir", str(tmp_path / "d"),
         "--files", "2", "--rows", "300"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    phases = [
        "starting a fresh stack",
        "stack up",
        "uploaded 2 files",
        "waiting for the first file to complete in us-east-1",
        "failing over to us-west-2",
        "  routing control: us-west-2 active, epoch 2",
        "  reconciled:",
        "waiting for every file to complete in us-west-2",
        "failing back to us-east-1",
        "  routing control: us-east-1 active, epoch 3",
        "waiting for us-east-1's records",
        "checking outputs against `mrbatch process`",
        "stopping the stack",
        "PASSED",
    ]
    positions = [next(i for i, line in enumerate(lines) if phase in line) for phase in phases]
    assert positions == sorted(positions), done.stdout
