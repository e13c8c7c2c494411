"""Loading the financial data a stack enriches rows with (`mrbatch financials load`).

The AWS sample loads its financial data into the global table once, with a script; this is
that step. The file is read once with polars and checked whole first (header, one row per
uuid: the same rules as `mrbatch process`), so a bad file loads nothing. Rows are then
written into the *active* region's financial table in batches, JSON-encoded by polars a
batch at a time; table replication carries them to the other region like every table item
(a DynamoDB global table on AWS).

Loading merges by uuid: a uuid already in the table gets the file's values, uuids that the
file does not name are kept. Re-running the same file is therefore safe and changes nothing.

While a load runs the regions keep serving lookups. The rows are committed in batches of
`BATCH_ROWS`, in file order (sorted by uuid within a batch): a lookup sees each uuid
either with its old values or with the file's (never part of a row), the file's for every
batch committed so far. A file
processed during a load may therefore be enriched partly with old and partly with new
values; one processed after the load (and, in the standby, after replication caught up:
`wait_for_financials`) gets only the new ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

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
# (docs/performance.md, "Financial data"). A commit rewrites every page of the key index
# its random uuids touch, so fewer, larger batches cost less: 1M rows, 7.5 s of CPU in
# batches of 20,000 against 6.4 s in batches of 50,000; a batch holds the region's write
# lock for about half a second (lookups are not held up: they read the last commit).
BATCH_ROWS = 50_000
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
    frame = _checked(path)  # every row checked before the first write
    progress(0, frame.height)
    region = open_routing(config).state().active_region
    tables = open_tables(config, region)
    written, last = 0, None
    try:
        for keys, texts in _batches(frame, batch_rows):
            tables.financials.put_many_json(keys, texts)
            written, last = written + len(keys), keys[-1]
            progress(written, frame.height)
    finally:
        tables.close()
    return LoadReport(region, written, last, round(time.monotonic() - started, 3))


def _checked(path: Path) -> pl.DataFrame:
    """The file's records in file order, empty values for missing ones: read once, as the
    check (`CsvFinancialSource`) reads it, every value a string. A file this does not
    accept (unreadable, another header, a uuid twice) goes through the check itself, which
    raises the InputFileError that says what is wrong: one set of rules and messages."""
    try:
        frame = pl.read_csv(path, infer_schema=False, raise_if_empty=True)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError):
        frame = None
    if (
        frame is None
        or tuple(frame.columns) != FINANCIAL_COLUMNS
        or frame.get_column("uuid").n_unique() != frame.height
    ):
        CsvFinancialSource.from_path(path)
        raise InputFileError(str(path), "cannot be loaded")  # the check itself found nothing
    return frame.with_columns(pl.all().fill_null(""))


def _batches(frame: pl.DataFrame, size: int) -> Iterator[tuple[list[str], list[str]]]:
    """`size` records at a time, in file order, as (uuids, JSON text of each record).
    Polars encodes the JSON of a whole batch (the records' values stay strings, as in the
    file); each batch is sorted by uuid, so its writes walk the key index in order."""
    for start in range(0, frame.height, size):
        batch = frame.slice(start, size).sort("uuid")
        texts = batch.select(pl.struct(pl.all()).struct.json_encode()).to_series()
        yield batch.get_column("uuid").to_list(), texts.to_list()


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
