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
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mrbatch.errors import InputFileError
from mrbatch.model import ErrorRecord
from mrbatch.pipeline.records import (
    MAX_RECORD_BYTES,
    UnterminatedQuote,
    split_records,
    strip_eol,
)
from mrbatch.pipeline.split import BOM, parse_header

__all__ = [
    "CHUNK",
    "MAX_FIELD_BYTES",
    "RAW",
    "ROW",
    "ParsedChunks",
    "fast_path_applies",
    "parse_chunks",
]

MAX_FIELD_BYTES = 1024 * 1024
ROW = "__row"
RAW = "__raw"
CHUNK = "__chunk"
_FIELDS = "__fields"

# The csv module refuses fields over 128 KiB by default; mrbatch's own limits (1 MiB per
# field, a row error; 16 MiB per record, a file error) apply instead. This setting is
# process-wide, and only ever raised here.
csv.field_size_limit(max(csv.field_size_limit(), 2 * MAX_RECORD_BYTES))


@dataclass(frozen=True)
class ParsedChunks:
    """Well-formed records of one or more chunks of a file, and the rest.

    `frame` has the columns `__row` (row number), `__raw` (the record as text) and
    `__chunk` (position of its chunk in the input sequence), then one string column per
    header column, sorted by row. `records[k]` counts the non-blank records of chunk k.
    """

    columns: tuple[str, ...]
    frame: pl.DataFrame
    errors: list[ErrorRecord]
    records: list[int]


def parse_chunks(
    chunks: Sequence[tuple[bytes, int]], *, file: str, delimiter: str = ","
) -> ParsedChunks:
    """Parse chunks (bytes with header, first row number) of one file together.

    Parsing many chunks at once lets the vectorised steps run once per batch instead of
    once per chunk. Raises InputFileError for a bad header or chunks with different headers.
    """
    columns: tuple[str, ...] | None = None
    fast = _FastLines()
    frames: list[pl.DataFrame] = []
    errors: list[ErrorRecord] = []
    records: list[int] = []
    for position, (data, first_row) in enumerate(chunks):
        data = data.removeprefix(BOM)
        text = _fast_text(data)
        added = None if text is None else fast.add(text, first_row, position)
        if added is not None:
            header, count = added
            chunk_columns = parse_header(header.encode(), file=file, delimiter=delimiter).columns
        else:
            careful = _parse_careful(data, first_row, file, delimiter, position)
            chunk_columns, count = careful.columns, careful.records[0]
            frames.append(careful.frame)
            errors.extend(careful.errors)
        if columns is not None and chunk_columns != columns:
            raise InputFileError(file, "the chunks do not have the same header")
        columns = chunk_columns
        records.append(count)
    if columns is None:
        raise ValueError("parse_chunks needs at least one chunk")
    frame, fast_errors = fast.frame(columns, file, delimiter)
    errors.extend(fast_errors)
    frame = pl.concat([frame, *frames]).sort(ROW) if frames else frame
    return ParsedChunks(columns, frame, errors, records)


def fast_path_applies(data: bytes) -> bool:
    """Whether a chunk may take the fast path (quote-free UTF-8 with regular line ends)."""
    return _fast_text(data) is not None


def _fast_text(data: bytes) -> str | None:
    """The chunk as text if the fast path may take it (see `_FastLines.add` for the rest)."""
    if b'"' in data:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _FastLines:
    """Collects the lines of fast-path chunks, split by polars; parsed in one go at the end."""

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []

    def add(self, text: str, first_row: int, position: int) -> tuple[str, int] | None:
        """Take one chunk's text; return its header line and its count of non-blank records.

        Returns None, taking nothing, when a line might hold a field over MAX_FIELD_BYTES:
        the careful path gives that field its row error.
        """
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        header, newline, body = text.partition("\n")
        lines = pl.Series(RAW, [body], pl.String).str.split("\n").explode()
        if not newline or (body.endswith("\n") or not body):
            lines = lines.slice(0, len(lines) - 1)  # nothing after the last line end
        if len(header) * 4 > MAX_FIELD_BYTES or (
            len(text) * 4 > MAX_FIELD_BYTES and lines.str.len_bytes().max() > MAX_FIELD_BYTES  # type: ignore[operator]
        ):
            return None
        count = len(lines)
        self.parts.append(
            pl.DataFrame({RAW: lines}).select(
                pl.int_range(first_row, first_row + count, dtype=pl.Int64).alias(ROW),
                RAW,
                pl.lit(position, pl.Int32).alias(CHUNK),
            )
        )
        return header, count - int((lines == "").sum())

    def frame(
        self, columns: tuple[str, ...], file: str, delimiter: str
    ) -> tuple[pl.DataFrame, list[ErrorRecord]]:
        """Split the collected lines into fields; wrong field counts become errors."""
        empty = pl.DataFrame(schema={ROW: pl.Int64, RAW: pl.String, CHUNK: pl.Int32})
        frame = pl.concat([empty, *self.parts])
        frame = frame.filter(pl.col(RAW) != "").with_columns(
            (pl.col(RAW).str.count_matches(delimiter, literal=True) + 1).alias(_FIELDS)
        )
        bad = frame.filter(pl.col(_FIELDS) != len(columns))
        errors = [
            _field_count_error(file, row, raw, len(columns), found)
            for row, raw, found in bad.select(ROW, RAW, _FIELDS).iter_rows()
        ]
        good = frame.filter(pl.col(_FIELDS) == len(columns))
        split = good.get_column(RAW).str.split_exact(delimiter, len(columns) - 1)
        values = split.struct.rename_fields(list(columns)).struct.unnest()
        result = pl.concat([good.select(ROW, RAW, CHUNK), values], how="horizontal")
        return result.with_columns(pl.col(name).fill_null("") for name in columns), errors


def _field_count_error(file: str, row: int, raw: str, expected: int, found: int) -> ErrorRecord:
    return ErrorRecord(
        file, row, "", "fieldCount", f"expected {expected} fields, found {found}", raw
    )


def _parse_careful(
    data: bytes, first_row: int, file: str, delimiter: str, position: int
) -> ParsedChunks:
    """One chunk the slow, exact way: each record cut, decoded and parsed on its own."""
    try:
        records = list(split_records(data))
    except UnterminatedQuote as exc:
        raise InputFileError(file, "a quoted field is never closed (unterminated quote)") from exc
    if not records:
        raise InputFileError(file, "the file is empty (0 bytes)")
    columns = parse_header(records[0], file=file, delimiter=delimiter).columns
    values: dict[str, list[str]] = {name: [] for name in columns}
    numbers: list[int] = []
    raws: list[str] = []
    errors: list[ErrorRecord] = []
    for offset, record in enumerate(records[1:]):
        raw = strip_eol(record)
        if not raw:
            continue
        fields, error = _parse_record(raw, first_row + offset, file, delimiter, len(columns))
        if error is not None:
            errors.append(error)
            continue
        numbers.append(first_row + offset)
        raws.append(raw.decode("utf-8"))
        for name, value in zip(columns, fields, strict=True):
            values[name].append(value)
    frame = pl.DataFrame(
        {ROW: numbers, RAW: raws, CHUNK: [position] * len(numbers), **values},
        schema={ROW: pl.Int64, RAW: pl.String, CHUNK: pl.Int32} | dict.fromkeys(columns, pl.String),
    )
    return ParsedChunks(columns, frame, errors, [len(numbers) + len(errors)])


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
