"""`mrbatch loadtest`: upload N files through the access point, wait for all, check.

Like the AWS sample's load-test script, files are uploaded `wait` seconds apart (or as fast
as `concurrency` uploaders can); unlike it, the run ends with the outside checker
(`mrbatch verify`) and reports throughput and the upload -> email latency of every file
(the email's arrival is the mail sink's file name: nanoseconds at delivery). A chaos
schedule (`mrbatch.runtime.operations.schedule`) can run meanwhile; it is healed before
the wait for quiescence.

Quiescence (`wait_quiet`) is what the checker needs: every accepted input version terminal
in both tables, no execution running, nothing left to replicate, and the mailbox unchanged
for `settle` seconds.
"""

from __future__ import annotations

import email.policy
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from mrbatch.handlers import naming
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.audit import verify_stack
from mrbatch.runtime.operations.financials import load_financials_file, wait_for_financials
from mrbatch.runtime.operations.schedule import FaultRunner, parse_schedule
from mrbatch.runtime.operations.stackinfo import access_point_client
from mrbatch.runtime.services.replicator import read_replication_status
from mrbatch.runtime.wiring import open_region_store, open_tables
from mrbatch.state.db import query_read_only

__all__ = ["LoadReport", "email_arrivals", "percentile", "quiet_now", "run_loadtest", "wait_quiet"]

TERMINAL = ("COMPLETED", "FAILED")


@dataclass
class LoadReport:
    """What a load test measured, and the checker's verdict."""

    files: int
    rows: int
    seconds: float
    files_per_second: float
    rows_per_second: float
    latency_p50: float | None
    latency_p90: float | None
    latency_p99: float | None
    quiet: bool
    violations: list[dict[str, str]] = field(default_factory=list)
    chaos: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.quiet and not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p`th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def email_arrivals(config: StackConfig) -> dict[str, float]:
    """Idempotency key (a file id) -> when its first email reached the mail sink."""
    arrivals: dict[str, float] = {}
    folder = config.mail_dir
    parser = BytesParser(policy=email.policy.default)
    for path in sorted(folder.glob("[0-9]*.eml")) if folder.is_dir() else []:
        with path.open("rb") as handle:
            header = parser.parse(handle, headersonly=True)["X-Mrbatch-Idempotency-Key"]
            key = str(header or "").strip()  # a long key is folded: unfolded, it keeps a space
        arrivals.setdefault(key, int(path.name.split("-")[0]) / 1e9)
    return arrivals


def quiet_now(config: StackConfig) -> bool:
    """Every input version in either bucket terminal in both tables, no execution running,
    replication drained."""
    accepted: set[str] = set()
    for region in config.regions:
        store = open_region_store(config, region)
        for info in store.list(naming.INPUT_PREFIX):
            if naming.is_input(info.key, config.input_suffixes):
                accepted.add(
                    naming.file_id(info.key, info.version_id or store.head(info.key).version_id)
                )
    for region in config.regions:
        tables = open_tables(config, region)
        try:
            statuses = {str(i["file_id"]): i.get("status") for i in tables.batch_state.scan()}
        finally:
            tables.close()
        if any(statuses.get(f) not in TERMINAL for f in accepted):
            return False
        running = query_read_only(
            config.workflows_db(region), "SELECT 1 FROM executions WHERE status = 'RUNNING' LIMIT 1"
        )
        if running:
            return False
    directions = read_replication_status(config).get("directions", {})
    return all(
        not d.get("objects", {}).get("operations_pending")
        and not any(t.get("items_pending") for t in d.get("tables", {}).values())
        for d in directions.values()
    )


def wait_quiet(config: StackConfig, *, timeout: float, settle: float = 2.0) -> float | None:
    """Wait until the stack is quiet and its mailbox unchanged for `settle` seconds;
    returns the seconds it took, or None when `timeout` passed first (a hang)."""
    start = time.monotonic()
    stable_since: float | None = None
    seen = -1
    while time.monotonic() - start < timeout:
        mails = len(list(config.mail_dir.glob("*.eml"))) if config.mail_dir.is_dir() else 0
        if quiet_now(config) and mails == seen:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= settle:
                return time.monotonic() - start
        else:
            stable_since = None
        seen = mails
        time.sleep(0.25)
    return None


def _prepare_input(
    config: StackConfig, scratch: Path, rows: int, say: Callable[[str], None]
) -> bytes:
    """A sample input of `rows` rows, its financial data loaded into the stack first."""
    source, financials = write_sample_files(scratch, "loadtest", rows, 11, 0.05)
    say(f"loading the financial data of a {rows}-row sample ...")
    report = load_financials_file(config, financials)
    wait_for_financials(config, report)
    return source.read_bytes()


def run_loadtest(
    config: StackConfig,
    scratch: Path,
    *,
    files: int,
    wait: float = 0.0,
    rows: int = 100,
    concurrency: int = 4,
    chaos: str | None = None,
    timeout: float = 600.0,
    deep: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> LoadReport:
    """Upload `files` copies of a `rows`-row sample (distinct keys), wait for all, check."""
    data = _prepare_input(config, scratch, rows, say)
    run = time.strftime("%Y%m%d-%H%M%S")
    client = access_point_client(config)
    uploaded: dict[str, float] = {}
    runner = FaultRunner(config, parse_schedule(chaos or ""))

    def upload(index: int) -> None:
        time.sleep(max(0.0, begin + index * wait - time.monotonic()))  # the pace asked for
        key = f"input/loadtest-{run}-{index:05d}.csv"
        response = client.put_object(Bucket=config.bucket_alias, Key=key, Body=data)
        uploaded[naming.file_id(key, response["VersionId"])] = time.time()

    say(f"uploading {files} files of {rows} rows ...")
    begin = time.monotonic()
    started = time.time()
    runner.start()
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        list(pool.map(upload, range(files)))
    say("waiting for every file ...")
    if chaos:
        runner.join(timeout=timeout)  # the schedule plays out whole, then is healed
        runner.heal()
    quiet = wait_quiet(config, timeout=timeout) is not None
    arrivals = email_arrivals(config)
    done = max([arrivals[f] for f in uploaded if f in arrivals], default=time.time())
    seconds = max(1e-9, done - started)
    latencies = [arrivals[f] - t for f, t in uploaded.items() if f in arrivals]
    say("checking the contract ...")
    violations = [v.as_dict() for v in verify_stack(config, deep=deep)] if quiet else []
    return LoadReport(
        files=files,
        rows=files * rows,
        seconds=seconds,
        files_per_second=files / seconds,
        rows_per_second=files * rows / seconds,
        latency_p50=percentile(latencies, 50),
        latency_p90=percentile(latencies, 90),
        latency_p99=percentile(latencies, 99),
        quiet=quiet,
        violations=violations,
        chaos=runner.outcomes,
    )
