"""Loading the financial data a stack enriches rows with (`mrbatch financials load`).

The AWS sample loads its financial data into the global table once, with a script; this is
that step. The file is checked whole first (header, one row per uuid: the same rules as
`mrbatch process`), so a bad file loads nothing. Rows are then written into the *active*
region's financial table in batches; table replication carries them to the other region
like every table item (a DynamoDB global table on AWS).

Loading merges by uuid: a uuid already in the table gets the file's values, uuids that the
file does not name are kept. Re-running the same file is therefore safe and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mrbatch.enrichment.api import read_financial_csv
from mrbatch.pipeline import CsvFinancialSource
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.wiring import open_routing, open_tables

__all__ = ["LoadReport", "has_financials", "load_financials_file", "wait_for_financials"]

BATCH_ROWS = 5000
Progress = Callable[[int], None]
"""Called with the number of rows written so far."""


@dataclass(frozen=True)
class LoadReport:
    """What a load did: `rows` written into `region`'s table, the last one `last_uuid`."""

    region: str
    rows: int
    last_uuid: str | None
    seconds: float


def load_financials_file(
    config: StackConfig, path: Path, *, progress: Progress = lambda _: None
) -> LoadReport:
    """Check `path` whole, then merge its rows into the active region's financial table.
    Raises InputFileError (nothing loaded) for a file that cannot be used."""
    started = time.monotonic()
    CsvFinancialSource.from_path(path)  # every row checked before the first write
    region = open_routing(config).state().active_region
    tables = open_tables(config, region)
    try:
        written, pending, last = 0, [], None
        for record in read_financial_csv(path):  # streamed: memory stays one batch
            pending.append(dict(record))
            last = record["uuid"]
            if len(pending) == BATCH_ROWS:
                tables.financials.put_many(pending)
                written, pending = written + len(pending), []
                progress(written)
        tables.financials.put_many(pending)
        written += len(pending)
        progress(written)
    finally:
        tables.close()
    return LoadReport(region, written, last, round(time.monotonic() - started, 3))


def has_financials(config: StackConfig, region: str, uuid: str | None = None) -> bool:
    """Whether `region`'s financial table holds `uuid` (any record when None)."""
    tables = open_tables(config, region)
    try:
        if uuid is None:
            return next(iter(tables.financials.scan()), None) is not None
        return tables.financials.get({"uuid": uuid}) is not None
    finally:
        tables.close()


def wait_for_financials(config: StackConfig, report: LoadReport, *, timeout: float = 120.0) -> bool:
    """Wait until every region holds the load's last record: table replication applies a
    region's writes in order, so the rest is there too. False when `timeout` passed first."""
    if report.last_uuid is None:
        return True
    deadline = time.monotonic() + timeout
    while not all(has_financials(config, r, report.last_uuid) for r in config.regions):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)  # polling another process (the replicator); bounded by `timeout`
    return True
