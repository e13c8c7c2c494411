"""`mrbatch drill`: the whole failover story on a fresh stack, with its invariants checked.

Upload N files, fail over while they are being processed, let reconciliation finish, fail
back, then check the correctness contract: every file has exactly one output, byte-identical
to a single-region run, in both regions; one email; one COMPLETED record; nothing lost. The
report gives RTO (failover command to the first completion in the new region, and to the
last re-driven file's completion) and RPO (files lost).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.errors import ObjectNotFoundError
from mrbatch.handlers import naming
from mrbatch.job.runner import JobOptions, run_job
from mrbatch.model import FileStatus
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.demo import fresh_data_dir
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.operations.stackinfo import access_point_client, mail_messages
from mrbatch.runtime.services.stack import start_stack
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.runtime.wiring import open_region_store, open_tables

__all__ = ["DrillReport", "run_drill"]

Say = Callable[[str], None]


@dataclass
class DrillReport:
    """The drill's measurements and the invariants it checked."""

    files: int
    rows_per_file: int
    in_flight_at_failover: int = 0
    redriven: int = 0
    missing_at_reconcile: int = 0
    rto_first_completion_seconds: float | None = None
    rto_all_redriven_seconds: float | None = None
    rpo_files_lost: int = 0
    duplicate_emails: int = 0
    outputs_identical: bool = False
    completed_records: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        record = dict(self.__dict__)
        record["passed"] = self.passed
        return record


def _write_files(folder: Path, files: int, rows: int) -> tuple[list[Path], Path]:
    """N input files of `rows` rows each (cut from one sample) and their financial data."""
    sample, financials = write_sample_files(folder, "all", files * rows, 11, 0.01)
    lines = sample.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    paths = []
    for index in range(files):
        path = folder / f"drill-{index + 1:03d}.csv"
        path.write_bytes(header + b"".join(body[index * rows : (index + 1) * rows]))
        paths.append(path)
    sample.unlink()
    return paths, financials


def _items(config: StackConfig, region: str) -> dict[str, dict[str, Any]]:
    tables = open_tables(config, region)
    try:
        return {str(item["key"]): item for item in tables.batch_state.scan()}
    finally:
        tables.close()


def _all_completed(config: StackConfig, region: str, keys: list[str]) -> bool:
    items = _items(config, region)
    return all(items.get(key, {}).get("status") == FileStatus.COMPLETED for key in keys)


def run_drill(
    data_dir: Path, *, files: int = 20, rows: int = 2000, say: Say = lambda _: None
) -> DrillReport:
    """Run the drill in `data_dir` (wiped first) and return its report."""
    data_dir = data_dir.resolve()
    fresh_data_dir(data_dir)
    report = DrillReport(files=files, rows_per_file=rows)
    paths, financials = _write_files(data_dir / "sample", files, rows)
    config = StackConfig(data_dir=data_dir, extra={"financials": str(financials)})
    say(f"starting a fresh stack in {data_dir} ...")
    supervisor, _ = start_stack(config)
    say("stack up")
    config = StackConfig.load(data_dir)
    home, away = config.regions
    keys = [f"{naming.INPUT_PREFIX}{path.name}" for path in paths]
    try:
        _upload(config, paths, say)
        say(f"waiting for the first file to complete in {home} ...")
        _wait_for_first_completion(config, home, keys)
        failover_at = _fail_over(config, away, keys, report, say)
        say(f"waiting for every file to complete in {away} ...")
        wait_until(lambda: _all_completed(config, away, keys), timeout=300, what="re-drives")
        _measure_rto(config, away, failover_at, report)
        say(f"all {files} files COMPLETED; failing back to {home} ...")
        run_runbook(config, kind="failback", target=home, reason="drill failback", say=say)
        say(f"waiting for {home}'s records to show every file COMPLETED ...")
        wait_until(lambda: _all_completed(config, home, keys), timeout=120, what="replication")
        say(f"checking outputs against `mrbatch process`, emails and records ({files} files) ...")
        _check_invariants(config, paths, financials, report)
    finally:
        say("stopping the stack ...")
        supervisor.stop()
        config.stack_file.unlink(missing_ok=True)
    return report


def _upload(config: StackConfig, paths: list[Path], say: Say) -> None:
    client = access_point_client(config)
    for path in paths:
        with path.open("rb") as body:
            client.put_object(Bucket=config.bucket_alias, Key=f"input/{path.name}", Body=body)
    say(f"uploaded {len(paths)} files through the access point")


def _wait_for_first_completion(config: StackConfig, region: str, keys: list[str]) -> None:
    def one_done() -> bool:
        items = _items(config, region)
        return any(items.get(k, {}).get("status") == FileStatus.COMPLETED for k in keys)

    wait_until(one_done, timeout=300, what="the first file to complete")


def _fail_over(
    config: StackConfig, target: str, keys: list[str], report: DrillReport, say: Say
) -> float:
    items = _items(config, config.peer_of(target))
    report.in_flight_at_failover = sum(
        1 for key in keys if items.get(key, {}).get("status") != FileStatus.COMPLETED
    )
    say(f"failing over to {target} with {report.in_flight_at_failover} file(s) unfinished ...")
    started = time.time()
    result = run_runbook(config, kind="failover", target=target, reason="drill", say=say)
    report.redriven = len(result["redriven"])
    report.missing_at_reconcile = len(result["missing"])
    return started


def _measure_rto(config: StackConfig, region: str, since: float, report: DrillReport) -> None:
    finished = [
        float(item["completed_at"])
        for item in _items(config, region).values()
        if item.get("completed_region") == region and float(item.get("completed_at", 0)) > since
    ]
    if finished:
        report.rto_first_completion_seconds = round(min(finished) - since, 3)
        report.rto_all_redriven_seconds = round(max(finished) - since, 3)


def _check_invariants(
    config: StackConfig, paths: list[Path], financials: Path, report: DrillReport
) -> None:
    emails = Counter(m["subject"] for m in mail_messages(config.data_dir))
    identical = True
    with tempfile.TemporaryDirectory() as scratch:
        for path in paths:
            run_job(path, financials, scratch, options=JobOptions(chunk_size=config.chunk_size))
            expected = (Path(scratch) / path.name).read_bytes()
            identical &= _check_file(config, path.name, expected, emails, report)
    report.outputs_identical = identical
    for region in config.regions:
        report.completed_records[region] = sum(
            1
            for item in _items(config, region).values()
            if item.get("status") == FileStatus.COMPLETED
        )
    home = _items(config, config.regions[0])
    lost = [
        p.name
        for p in paths
        if home.get(f"input/{p.name}", {}).get("status") != FileStatus.COMPLETED
    ]
    report.rpo_files_lost = len(lost)
    report.violations.extend(f"{name}: not COMPLETED" for name in lost)


def _check_file(
    config: StackConfig, name: str, expected: bytes, emails: Counter[str], report: DrillReport
) -> bool:
    sent = sum(n for subject, n in emails.items() if subject.endswith(f" {name} is processed"))
    if sent != 1:
        report.violations.append(f"{name}: {sent} emails")
        report.duplicate_emails += max(0, sent - 1)
    item = _items(config, config.regions[0]).get(f"input/{name}", {})
    if not item.get("output"):
        report.violations.append(f"{name}: no output recorded")
        return False
    same = True
    for region in config.regions:
        try:
            output = open_region_store(config, region).get_bytes(str(item["output"]))
        except ObjectNotFoundError:
            report.violations.append(f"{name}: no output in {region}")
            same = False
            continue
        if output != expected:
            report.violations.append(f"{name}: output in {region} differs from a direct run")
            same = False
    return same
