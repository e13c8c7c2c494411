"""Parse a chunk into a frame of string values, one row per well-formed record.

Two ways, one result. The fast way handles the common chunk (no `"` at all, valid UTF-8,
`\\n` or `\\r\\n` line ends, under 1 MiB): it splits lines and fields with vectorised string
operations. Every other chunk takes the careful way: records are cut at unquoted line ends,
each is decoded and parsed by Python's csv module on its own, so one bad record only costs
its own row. Tests check that both give the same result on the chunks both can handle.

Row-level problems become error records here: a wrong number of fields (`fieldCount`),
bytes that are not UTF-8 (`encoding`), a malformed quote (`csv`), a field over 1 MiB
(`maxFieldBytes`). Blank lines are not records: they are skipped without an error, but
they still count in row numbers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import polars as pl

from mrbatch.errors import InputFileError
from mrbatch.model import ErrorRecord
from mrbatch.pipeline.records import UnterminatedQuote, split_records, strip_eol
from mrbatch.pipeline.split import BOM, parse_header

__all__ = ["MAX_FIELD_BYTES", "ParsedChunk", "parse_chunk"]

MAX_FIELD_BYTES = 1024 * 1024
ROW = "__row"
RAW = "__raw"


@dataclass(frozen=True)
class ParsedChunk:
    """Well-formed records as strings (plus `__row` and `__raw` columns) and the rest."""

    columns: tuple[str, ...]
    frame: pl.DataFrame
    errors: list[ErrorRecord]
    records: int  # non-blank records seen, well-formed or not


def parse_chunk(data: bytes, *, first_row: int, file: str, delimiter: str = ",") -> ParsedChunk:
    """Parse chunk bytes (header + records); raises InputFileError for a bad header."""
    data = data.removeprefix(BOM)
    if _fast_path_applies(data):
        return _parse_fast(data.decode("utf-8"), first_row, file, delimiter)
    return _parse_careful(data, first_row, file, delimiter)


def _fast_path_applies(data: bytes) -> bool:
    if b'"' in data or len(data) > MAX_FIELD_BYTES:
        return False
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _field_count_error(file: str, row: int, raw: str, expected: int, found: int) -> ErrorRecord:
    return ErrorRecord(
        file, row, "", "fieldCount", f"expected {expected} fields, found {found}", raw
    )


def _parse_fast(text: str, first_row: int, file: str, delimiter: str) -> ParsedChunk:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    columns = parse_header(lines[0].encode(), file=file, delimiter=delimiter).columns
    body = lines[1:]
    if body and body[-1] == "":
        body.pop()
    frame = pl.DataFrame({RAW: pl.Series(body, dtype=pl.String)}).with_row_index(
        ROW, offset=first_row
    )
    frame = frame.filter(pl.col(RAW) != "").with_columns(
        (pl.col(RAW).str.count_matches(delimiter, literal=True) + 1).alias("__fields")
    )
    bad = frame.filter(pl.col("__fields") != len(columns))
    errors = [
        _field_count_error(file, row, raw, len(columns), found)
        for row, raw, found in bad.iter_rows()
    ]
    good = frame.filter(pl.col("__fields") == len(columns))
    values = good.get_column(RAW).str.split_exact(delimiter, len(columns) - 1).struct.unnest()
    values.columns = list(columns)
    result = pl.concat([good.select(ROW, RAW), values], how="horizontal")
    return ParsedChunk(columns, _as_strings(result, columns), errors, frame.height)


def _as_strings(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(ROW).cast(pl.Int64), *(pl.col(name).fill_null("") for name in columns)
    )


def _parse_careful(data: bytes, first_row: int, file: str, delimiter: str) -> ParsedChunk:
    try:
        records = list(split_records(data))
    except UnterminatedQuote as exc:
        raise InputFileError(file, "a quoted field is never closed (unterminated quote)") from exc
    if not records:
        raise InputFileError(file, "the file is empty (0 bytes)")
    columns = parse_header(records[0], file=file, delimiter=delimiter).columns
    rows: dict[str, list[str]] = {name: [] for name in columns}
    numbers: list[int] = []
    raws: list[str] = []
    errors: list[ErrorRecord] = []
    seen = 0
    for offset, record in enumerate(records[1:]):
        raw = strip_eol(record)
        if not raw:
            continue
        seen += 1
        row = first_row + offset
        fields, error = _parse_record(raw, row, file, delimiter, len(columns))
        if error is not None:
            errors.append(error)
            continue
        numbers.append(row)
        raws.append(raw.decode("utf-8"))
        for name, value in zip(columns, fields, strict=True):
            rows[name].append(value)
    frame = pl.DataFrame(
        {ROW: numbers, RAW: raws, **rows},
        schema={ROW: pl.Int64, RAW: pl.String, **dict.fromkeys(columns, pl.String)},
    )
    return ParsedChunk(columns, frame, errors, seen)


def _parse_record(
    raw: bytes, row: int, file: str, delimiter: str, expected: int
) -> tuple[list[str], ErrorRecord | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = raw.decode("utf-8", "backslashreplace")
        message = f"byte {exc.start + 1} of the row is not UTF-8"
        return [], ErrorRecord(file, row, "", "encoding", message, shown)
    try:
        fields = next(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return [], ErrorRecord(file, row, "", "csv", f"not a valid CSV row ({exc})", text)
    if len(fields) != expected:
        return [], _field_count_error(file, row, text, expected, len(fields))
    for value in fields:
        if len(value) * 4 > MAX_FIELD_BYTES and len(value.encode("utf-8")) > MAX_FIELD_BYTES:
            message = f"a field is larger than {MAX_FIELD_BYTES // (1024 * 1024)} MiB"
            return [], ErrorRecord(file, row, "", "maxFieldBytes", message, text[:200])
    return fields, None
