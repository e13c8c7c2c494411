"""`mrbatch failover` / `failback` / `runbooks` on a stack's files (no processes needed:
the runbook works on the routing control, the tables and the change feeds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mrbatch.cli.runbook_commands import parse_duration
from mrbatch.errors import ConfigError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.wiring import open_routing


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "fast", "5 minutes", "-1s", "1d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def mrbatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *args], capture_output=True, text=True, timeout=60
    )


def test_failover_and_failback_are_recorded_with_their_steps(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    config.save()
    open_routing(config)
    refused = mrbatch("failover", "--data-dir", str(tmp_path), "--to", "us-east-1")
    assert refused.returncode == 1
    assert "us-east-1 is already the active region (epoch 1)" in refused.stderr
    assert "Traceback" not in refused.stderr

    over = mrbatch("failover", "--data-dir", str(tmp_path), "--reason", "drill", "--json")
    assert over.returncode == 0, over.stderr
    result = json.loads(over.stdout)
    assert (result["epoch"], result["redriven"], result["missing"]) == (2, [], [])
    back = mrbatch("failback", "--data-dir", str(tmp_path), "--max-wait", "5s")
    assert back.returncode == 0, back.stderr
    assert "us-west-2 -> us-east-1" in back.stdout

    runs = json.loads(mrbatch("runbooks", "--data-dir", str(tmp_path), "--json").stdout)
    assert [(r["kind"], r["source"], r["target"], r["status"]) for r in runs] == [
        ("failback", "us-west-2", "us-east-1", "Success"),
        ("failover", "us-east-1", "us-west-2", "Success"),
    ]
    assert [s["name"] for s in runs[1]["steps"]] == [
        "FlipRoutingControl",
        "WaitForReplication",
        "Reconcile",
    ]
    assert open_routing(config).state().epoch == 3
