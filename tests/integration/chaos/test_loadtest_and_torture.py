"""CI's share of the randomized search: a fixed set of torture schedules on fresh stacks and
a small load test with a chaos schedule, each judged by the outside checker (the full runs
are in docs/operations.md, "Chaos")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from detached import mrbatch
from stacktools import running_stack

from mrbatch.runtime.operations.torture import plan_schedule, run_schedule

# Seeds whose plans cover kills (group and main process), both regions killed, failover and
# failback, re-uploads (same and new bytes), a partition, a pause and duplicate events.
CI_SEEDS = (577090037, 271041745, 1095513148)


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_a_fixed_torture_schedule_keeps_the_contract(seed: int, tmp_path: Path) -> None:
    result = run_schedule(plan_schedule(seed, files=3, rows=60), tmp_path, deadline=120,
                          say=lambda _: None)  # fmt: skip
    assert result.quiet_seconds is not None, result.outcomes
    assert result.violations == [], result.plan.describe()


def test_loadtest_uploads_waits_and_reports_the_verdict(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack") as stack:
        done = mrbatch(
            "loadtest", "--files", "10", "--rows", "50", "--concurrency", "4", "--json",
            "--chaos", "0.5:duplicate-events:us-east-1,1:block:us-east-1:smtp:2",
            "--timeout", "120", "--data-dir", str(stack.config.data_dir), check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is True
    assert (report["files"], report["rows"], report["violations"]) == (10, 500, [])
    assert 0 < report["latency_p50"] <= report["latency_p90"] <= report["latency_p99"]
    assert report["files_per_second"] > 0
    assert len(report["chaos"]) == 2
