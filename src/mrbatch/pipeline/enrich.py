"""Enrich: the financial-data source interface and its first implementation, a CSV file.

`FinancialSource` is the whole contract a source must meet (one batch lookup), so an HTTP
API or a state table can implement it in a few lines. A source that can also answer with a
polars frame (`FrameFinancialSource`) lets the chunk processor skip building Python objects
per row; `CsvFinancialSource` does both.

Example:
    >>> source = CsvFinancialSource.from_bytes(
    ...     b"uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\\n"
    ...     b"535113847,934,152.58,97.44,142509.72,91008.96,51500.76\\n", file="fin.csv")
    >>> source.lookup(["535113847", "999999999"])["535113847"].unit_price
    '152.58'
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from mrbatch.errors import InputFileError
from mrbatch.model import FinancialRecord

__all__ = [
    "ENRICHED_COLUMNS",
    "FINANCIAL_COLUMNS",
    "CsvFinancialSource",
    "FinancialSource",
    "FrameFinancialSource",
]

# Columns of the financial-data CSV, and the output columns they become (same order).
FINANCIAL_COLUMNS = (
    "uuid", "unitsSold", "unitPrice", "unitCost", "totalRevenue", "totalCost", "totalProfit",
)  # fmt: skip
ENRICHED_COLUMNS = (
    "Units Sold", "Unit Price", "Unit Cost", "Total Revenue", "Total Cost", "Total Profit",
)  # fmt: skip


class FinancialSource(Protocol):
    """Where the financial data of an order comes from."""

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """Return the records of those of `uuids` that the source knows.

        A uuid without data is simply absent from the result (the caller records it as a
        row error). Idempotent and read-only. Raises a MrBatchError subclass when the source
        itself fails (unreachable, unreadable), never for an unknown uuid.
        """
        ...


@runtime_checkable
class FrameFinancialSource(Protocol):
    """A FinancialSource that can also answer with a polars frame (the fast path)."""

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """As FinancialSource.lookup."""
        ...

    def lookup_frame(self, uuids: pl.Series) -> pl.DataFrame:
        """One row per uuid, in order, with the ENRICHED_COLUMNS; nulls where unknown."""
        ...


class CsvFinancialSource:
    """The financial-data CSV held in memory, sorted by uuid, looked up by binary search.

    A sorted index makes a lookup of k uuids cost O(k log n), so the cost per chunk does not
    grow with the size of the financial file (a hash join would rebuild a table per chunk).
    """

    def __init__(self, frame: pl.DataFrame, *, is_sorted: bool = False) -> None:
        self._frame = frame if is_sorted else frame.sort("uuid")
        self._keys = self._frame.get_column("uuid")

    @classmethod
    def from_path(cls, path: str | Path) -> CsvFinancialSource:
        """Load the CSV at `path`; raises InputFileError naming it if it cannot be used."""
        try:
            empty = Path(path).stat().st_size == 0
        except OSError as exc:
            raise InputFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
        if empty:
            raise InputFileError(str(path), "the file is empty (0 bytes)")
        # Parsed from the path, not from bytes read first: one copy of the file less.
        return cls._parse(Path(path), file=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, file: str) -> CsvFinancialSource:
        """Parse financial CSV bytes; raises InputFileError naming `file` on a bad file."""
        if not data:
            raise InputFileError(file, "the file is empty (0 bytes)")
        return cls._parse(io.BytesIO(data), file=file)

    @classmethod
    def _parse(cls, source: Path | io.BytesIO, *, file: str) -> CsvFinancialSource:
        try:
            frame = pl.read_csv(source, infer_schema=False, raise_if_empty=True)
        except OSError as exc:
            raise InputFileError(file, f"cannot be read: {exc.strerror or exc}") from exc
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputFileError(file, f"not a readable financial CSV ({first})") from exc
        if tuple(frame.columns) != FINANCIAL_COLUMNS:
            expected = ",".join(FINANCIAL_COLUMNS)
            raise InputFileError(file, f"the header must be {expected}")
        raw, frame = frame, frame.with_columns(pl.all().fill_null(""))
        frame = frame.rename(dict(zip(FINANCIAL_COLUMNS[1:], ENRICHED_COLUMNS, strict=True)))
        # Duplicates are adjacent once sorted: a cheap check; the file order is only needed
        # to name the first duplicated uuid, on the rare failing file.
        ordered = frame.sort("uuid")
        keys = ordered.get_column("uuid")
        if len(keys) > 1 and (keys.slice(1) == keys.slice(0, len(keys) - 1)).any():
            duplicated = raw.filter(pl.col("uuid").is_duplicated()).get_column("uuid")
            raise InputFileError(file, f"uuid {duplicated[0]} appears more than once")
        return cls(ordered, is_sorted=True)

    def save(self, path: str | Path) -> None:
        """Write the sorted table as an Arrow IPC file that `load` maps back cheaply.

        `mrbatch process` writes it once per job so that its worker processes need neither
        parse the CSV nor sort it again.
        """
        self._frame.write_ipc(path)

    @classmethod
    def load(cls, path: str | Path) -> CsvFinancialSource:
        """Open a table written by `save` (already checked and sorted)."""
        return cls(pl.read_ipc(path), is_sorted=True)

    @property
    def needs_quoting(self) -> bool:
        """Whether some value holds a comma, quote or line break (so is quoted in a CSV)."""
        special = pl.any_horizontal(
            pl.col(name).str.contains(r'[,"\r\n]') for name in ENRICHED_COLUMNS
        )
        return bool(self._frame.select(special.any()).item())

    def __len__(self) -> int:
        return self._frame.height

    def lookup_frame(self, uuids: pl.Series) -> pl.DataFrame:
        """See FrameFinancialSource.lookup_frame."""
        if self._frame.height == 0:
            return pl.DataFrame({name: [None] * len(uuids) for name in ENRICHED_COLUMNS},
                                schema=dict.fromkeys(ENRICHED_COLUMNS, pl.String))  # fmt: skip
        uuids = uuids.cast(pl.String)
        index = self._keys.search_sorted(uuids).clip(0, self._frame.height - 1)
        found = self._keys.gather(index) == uuids
        rows = self._frame.select(ENRICHED_COLUMNS).gather(index)
        return rows.select(
            pl.when(found).then(pl.col(name)).alias(name) for name in ENRICHED_COLUMNS
        )

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """See FinancialSource.lookup."""
        frame = self.lookup_frame(pl.Series(list(uuids), dtype=pl.String))
        return {
            uuid: FinancialRecord(*values)
            for uuid, values in zip(uuids, frame.iter_rows(), strict=True)
            if values[0] is not None
        }
