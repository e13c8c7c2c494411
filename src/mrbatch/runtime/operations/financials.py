"""Loading the financial data a stack enriches rows with (`mrbatch financials load`).

The AWS sample loads its financial data into the global table once, with a script; this is
that step. The file is checked whole first (header, one row per uuid: the same rules as
`mrbatch process`), so a bad file loads nothing. Rows are then written into the *active*
region's financial table in batches; table replication carries them to the other region
like every table item (a DynamoDB global table on AWS).

Loading merges by uuid: a uuid already in the table gets the file's values, uuids that the
file does not name are kept. Re-running the same file is therefore safe and changes nothing.

While a load runs the regions keep serving lookups. The rows are committed in batches of
`BATCH_ROWS`, in file order: a lookup sees each uuid either with its old values or with
the file's (never part of a row), the file's for every batch committed so far. A file
processed during a load may therefore be enriched partly with old and partly with new
values; one processed after the load (and, in the standby, after replication caught up:
`wait_for_financials`) gets only the new ones.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mrbatch.errors import InputFileError
from mrbatch.pipeline import CsvFinancialSource
from mrbatch.pipeline.columns import FINANCIAL_COLUMNS
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.wiring import open_routing, open_tables

__all__ = [
    "BATCH_ROWS",
    "LoadReport",
    "has_financials",
    "load_financials_file",
    "wait_for_financials",
]

# Rows per write transaction. Each batch commits on its own, so lookups during a load see
# every uuid of a committed batch with the file's values and the rest with their old ones
# (docs/performance.md, "Financial data"); a batch is ~3 MB of WAL and one commit per
# 20,000 rows keeps the commits' and checkpoints' cost small against the rows' own.
BATCH_ROWS = 20_000
Progress = Callable[[int, int], None]
"""Called with the rows written so far and the file's rows (0 rows written: checked)."""


@dataclass(frozen=True)
class LoadReport:
    """What a load did: `rows` written into `region`'s table, the last one `last_uuid`."""

    region: str
    rows: int
    last_uuid: str | None
    seconds: float


def load_financials_file(
    config: StackConfig,
    path: Path,
    *,
    progress: Progress = lambda written, total: None,
    batch_rows: int = BATCH_ROWS,
) -> LoadReport:
    """Check `path` whole, then merge its rows into the active region's financial table,
    `batch_rows` rows per transaction. Raises InputFileError (nothing loaded) for a file
    that cannot be used.

    Example (a stack's data directory; the stack may be running or not):
        >>> load_financials_file(config, Path("fin.csv")).rows  # doctest: +SKIP
        1000000
    """
    started = time.monotonic()
    total = len(CsvFinancialSource.from_path(path))  # every row checked before the first write
    progress(0, total)
    region = open_routing(config).state().active_region
    tables = open_tables(config, region)
    written, last = 0, None
    try:
        for batch in _batches(path, batch_rows):
            tables.financials.put_many(batch)
            written, last = written + len(batch), batch[-1]["uuid"]
            progress(written, total)
    finally:
        tables.close()
    return LoadReport(region, written, last, round(time.monotonic() - started, 3))


def _batches(path: Path, size: int) -> Iterator[list[dict[str, str]]]:
    """The file's records as items, `size` at a time: streamed, so memory stays one batch.
    The C csv reader, not DictReader (a third of the time per row); the header was
    checked already, this only guards against the file changing in between."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        if tuple(next(reader, ())) != FINANCIAL_COLUMNS:
            raise InputFileError(str(path), "the file changed while it was being loaded")
        batch: list[dict[str, str]] = []
        width = len(FINANCIAL_COLUMNS)
        for row in reader:
            if len(row) != width:  # skip a blank line; a short row has empty values
                if not row:
                    continue
                row = row + [""] * (width - len(row))
            batch.append(dict(zip(FINANCIAL_COLUMNS, row, strict=False)))  # checked: not longer
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


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
