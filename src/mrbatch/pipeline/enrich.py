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
from mrbatch.pipeline.columns import ENRICHED_COLUMNS, FINANCIAL_COLUMNS
from mrbatch.ports import FinancialSource

__all__ = [
    "ENRICHED_COLUMNS",
    "FINANCIAL_COLUMNS",
    "CsvFinancialSource",
    "FinancialIndex",
    "FinancialSource",
    "FrameFinancialSource",
    "ValuesFinancialSource",
    "csv_value",
]


@runtime_checkable
class FrameFinancialSource(Protocol):
    """A FinancialSource that can also answer with a polars frame (the fast path)."""

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """As FinancialSource.lookup."""
        ...

    def lookup_frame(self, uuids: pl.Series) -> pl.DataFrame:
        """One row per uuid, in order, with the ENRICHED_COLUMNS; nulls where unknown."""
        ...


@runtime_checkable
class ValuesFinancialSource(Protocol):
    """A source that answers with each uuid's six values as output CSV text (`FinancialIndex`,
    the enrichment API's values route): the batch path then builds no record per row."""

    def lookup_values(self, uuids: pl.Series) -> pl.Series:
        """The six values of each of `uuids` as the output CSV writes them (`934,152.58,...`,
        each value quoted as `csv_value` does), in order; null where unknown."""
        ...


def _read_financials(source: Path | io.BytesIO, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The financial CSV as read, and with empty values for nulls and output column names.

    Raises InputFileError naming `file` when it cannot be read or has the wrong header.
    """
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
    filled = frame.with_columns(pl.all().fill_null(""))
    return frame, filled.rename(dict(zip(FINANCIAL_COLUMNS[1:], ENRICHED_COLUMNS, strict=True)))


def _repeats(ordered: pl.Series) -> bool:
    """Whether sorted `ordered` holds a value twice (then two neighbours are equal)."""
    return len(ordered) > 1 and bool((ordered.slice(1) == ordered.slice(0, len(ordered) - 1)).any())


def _check_unique(ordered: pl.Series, raw: pl.DataFrame, file: str) -> None:
    """Raise InputFileError if sorted `ordered` repeats a value, naming the first repeated
    uuid in file order (`raw`, the file as read; only looked at on a failing file)."""
    if _repeats(ordered):
        duplicated = raw.filter(pl.col("uuid").is_duplicated()).get_column("uuid")
        raise InputFileError(file, f"uuid {duplicated[0]} appears more than once")


def _check_not_empty(path: Path) -> None:
    """Raise InputFileError naming `path` if it cannot be read or holds no bytes."""
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    if empty:
        raise InputFileError(str(path), "the file is empty (0 bytes)")


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
        _check_not_empty(Path(path))
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
        raw, frame = _read_financials(source, file)
        # Duplicates are adjacent once sorted: a cheap check.
        ordered = frame.sort("uuid")
        _check_unique(ordered.get_column("uuid"), raw, file)
        return cls(ordered, is_sorted=True)

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


_PLAIN_HEADER = (",".join(FINANCIAL_COLUMNS) + "\n").encode()


def _read_plain(path: Path) -> pl.DataFrame | None:
    """A plain financial CSV (no quote, CR or NUL byte, no blank line, seven fields on every
    line, the exact header, every uuid digits) as the index's key and the text of the six
    values, sorted by key; None for any other file.

    On such a file each line is its values as they are, so one string column holds them: a
    third of the memory of seven columns. The lines are read, cut and keyed in one streaming
    query, so no column of whole lines is ever held: that column and its copies set a
    worker's peak while it builds the index (~50 MB less at 1M rows). Any other file takes
    the general way.
    """
    lines = 0
    with path.open("rb") as stream:
        if stream.read(len(_PLAIN_HEADER)) != _PLAIN_HEADER:
            return None
        last = b"\n"
        while block := stream.read(1 << 20):
            if b'"' in block or b"\r" in block or b"\x00" in block:
                return None
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    line = pl.col("line")
    comma = line.str.find(",", literal=True)
    query = pl.scan_csv(path, has_header=False, skip_rows=1, separator="\x00",
                        quote_char=None, schema={"line": pl.String})  # fmt: skip
    try:
        frame = query.select(
            _digits_key(line.str.slice(0, comma)).alias(_KEY),
            line.str.slice(comma + 1).alias(_VALUES),
            (line.str.count_matches(",", literal=True) == 6).fill_null(False).alias(_FIELDS_OK),
        ).collect(engine="streaming")
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        return None
    if frame.height != lines or not frame.get_column(_FIELDS_OK).all():
        return None
    if frame.get_column(_KEY).null_count():
        return None  # a uuid that is not digits: the general way keeps it by its string
    return frame.select(_KEY, _VALUES).sort(_KEY)


def csv_value(column: pl.Expr) -> pl.Expr:
    """`column` as polars' CSV writer writes a value (minimal quoting, `""` for empty).

    A value is quoted when it holds a comma, a quote or a line break, its quotes doubled;
    tested against `write_csv` so the two agree byte for byte.
    """
    quoted = pl.lit('"') + column.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(column.str.contains(r'[,"\r\n]')).then(quoted).otherwise(column)


_KEY = "__key"
_ORDER = "__order"
_PART_ROWS = 1 << 17
_VALUES = "__values"
_FIELDS_OK = "__fields_ok"
_DIGITS = r"^[0-9]{1,17}$"


def _digits_key(uuids: pl.Expr) -> pl.Expr:
    """An Int64 that identifies a uuid of 1 to 17 digits (length and value; so `007` and `7`
    differ), null for any other uuid. Integers sort and search far faster than strings."""
    value = uuids.cast(pl.Int64, strict=False)
    return pl.when(uuids.str.contains(_DIGITS)).then(
        uuids.str.len_bytes().cast(pl.Int64) * (1 << 57) + value
    )


class FinancialIndex:
    """The financial data as `mrbatch process` workers use it: uuid → its six values as the
    output CSV text (`934,152.58,...`), sorted, saved once per job as an Arrow IPC file.

    Digit-only uuids (the usual kind) are keyed by an integer; any other uuid by its string.
    Same data, same checks and same errors as CsvFinancialSource; one string per row instead
    of six halves the memory and the cost of a lookup.
    """

    def __init__(self, digits: pl.DataFrame, others: pl.DataFrame) -> None:
        """`digits`: key and values, sorted by key; `others`: uuid and values, by uuid.

        The keys are made one chunk (8 bytes a row), where a search is a third faster; the
        values may stay in the chunks they were loaded in.
        """
        self._digits = digits.with_columns(digits.get_column(_KEY).rechunk().set_sorted())
        self._others = others

    @classmethod
    def from_path(cls, path: str | Path) -> FinancialIndex:
        """Load and check the financial CSV at `path` (errors as CsvFinancialSource)."""
        _check_not_empty(Path(path))
        digits = _read_plain(Path(path))
        if digits is None:
            _, frame = _read_financials(Path(path), str(path))
            values = [csv_value(pl.col(name)) for name in ENRICHED_COLUMNS]
            keyed = frame.select(
                _digits_key(pl.col("uuid")).alias(_KEY),
                "uuid",
                pl.concat_str(values, separator=",").alias(_VALUES),
            )
            del frame
            digits = keyed.filter(pl.col(_KEY).is_not_null()).select(_KEY, _VALUES).sort(_KEY)
            others = keyed.filter(pl.col(_KEY).is_null()).select("uuid", _VALUES).sort("uuid")
            del keyed
        else:
            others = pl.DataFrame(schema={"uuid": pl.String, _VALUES: pl.String})
        if _repeats(digits.get_column(_KEY)) or _repeats(others.get_column("uuid")):
            raw, _ = _read_financials(Path(path), str(path))  # only to name the duplicate
            _check_unique(raw.get_column("uuid").sort(), raw, str(path))
        return cls(digits, others)

    def save(self, path: str | Path) -> None:
        """Write the index as Arrow IPC files named after `path`, for `load` elsewhere.

        The digit rows go in slices of _PART_ROWS rows: reading one file needs a transient
        copy of it, so slices keep a worker's peak while loading small.
        """
        parts = max(1, -(-self._digits.height // _PART_ROWS))
        for part in range(parts):
            piece = self._digits.slice(part * _PART_ROWS, _PART_ROWS)
            piece.write_ipc(f"{path}.{part:05d}")
        self._others.write_ipc(f"{path}.others")

    @classmethod
    def load(cls, path: str | Path) -> FinancialIndex:
        """Read an index written by `save` (its slices stay separate chunks: no copy)."""
        pieces: list[pl.DataFrame] = []
        while Path(name := f"{path}.{len(pieces):05d}").exists():
            pieces.append(pl.read_ipc(name))
        digits = pl.concat(pieces, rechunk=False)
        return cls(digits, pl.read_ipc(f"{path}.others"))

    def lookup_values(self, uuids: pl.Series) -> pl.Series:
        """The CSV text of the six values for each of `uuids`, in order; null where unknown."""
        uuids = uuids.cast(pl.String)
        keys = pl.select(_digits_key(pl.lit(uuids))).to_series()
        values = self._merge(keys)
        if self._others.height:
            values = values.fill_null(self._search(self._others, "uuid", uuids))
        return values.alias(_VALUES)

    def _merge(self, keys: pl.Series) -> pl.Series:
        """The digit rows' values for `keys` (null where absent), found by sorting the keys
        and merging them with the sorted index (an as-of join that takes equal keys only).

        A binary search per key (`search_sorted`) jumps across the whole index for every
        key, missing the cache at each step: ~12% of a batch's CPU. Sorted keys walk the
        index in one direction, about 4x faster even with the sort and the reordering.
        """
        if self._digits.height == 0:
            return pl.Series(_VALUES, [None] * len(keys), dtype=pl.String)
        queries = pl.DataFrame({_KEY: keys}).with_row_index(_ORDER).sort(_KEY)
        found = queries.join_asof(self._digits, on=_KEY, strategy="backward", tolerance=0,
                                  check_sortedness=False)  # fmt: skip
        return found.sort(_ORDER).get_column(_VALUES)

    @staticmethod
    def _search(table: pl.DataFrame, column: str, keys: pl.Series) -> pl.Series:
        if table.height == 0:
            return pl.Series(_VALUES, [None] * len(keys), dtype=pl.String)
        sorted_keys = table.get_column(column)
        position = sorted_keys.search_sorted(keys).clip(0, table.height - 1)
        found = (sorted_keys.gather(position) == keys).fill_null(False)
        values = table.get_column(_VALUES).gather(position)
        return pl.select(pl.when(pl.lit(found)).then(pl.lit(values))).to_series()
