"""Parse a chunk into a frame of string values, one row per well-formed record.

Two ways, one result. The fast way reads lines and fields with polars' CSV reader (every
byte as data: no quote character); the careful way cuts records at unquoted line ends and
decodes and parses each with Python's csv module on its own, so one bad record only costs
its own row. A chunk is sorted record by record: the records that hold a `"`, a byte that
is not UTF-8 or a `\\r` that does not end a line (found with the bytes methods, `_Trouble`)
take the careful way, every other record the fast way, so a few dirty rows no longer cost
the whole chunk's speed. Only a chunk whose header is such a record, that ends inside a
quote, or that might hold a field over 1 MiB is parsed the careful way whole. Tests check
that the two ways give the same result on any chunk.

Row-level problems become error records here: a wrong number of fields (`fieldCount`),
bytes that are not UTF-8 (`encoding`), a malformed quote (`csv`), a field over 1 MiB
(`maxFieldBytes`). Blank lines are not records: they are skipped without an error, but
they still count in row numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mrbatch.errors import InputFileError
from mrbatch.model import ErrorRecord
from mrbatch.pipeline.records import (
    MAX_RECORD_BYTES,
    UnterminatedQuote,
    record_end,
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
    fast = _FastLines(delimiter)
    frames: list[pl.DataFrame] = []
    errors: list[ErrorRecord] = []
    records: list[int] = []
    for position, (data, first_row) in enumerate(chunks):
        data = data.removeprefix(BOM)
        sorted_records = _sort_records(data)
        added, dirty = None, list[tuple[int, bytes]]()
        if sorted_records is not None:
            clean, dirty = sorted_records
            added = fast.add(clean, first_row, position, [offset for offset, _ in dirty])
        if added is not None:
            header, count = added
            chunk_columns = parse_header(header, file=file, delimiter=delimiter).columns
            if dirty:
                numbered = [(first_row + offset, record) for offset, record in dirty]
                frame, careful_errors = _careful_rows(numbered, chunk_columns, file, delimiter,
                                                      position)  # fmt: skip
                frames.append(frame)
                errors.extend(careful_errors)
                count += len(dirty)
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
    return _is_clean(data)


def _sort_records(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]] | None:
    """The chunk's header and its fast-path records, and the careful ones as (offset among
    the data records, record bytes with line end); None when the whole chunk must take the
    careful way (a dirty header, or the data ends inside a quote).

    Each dirty record is found from a troublesome byte inside it (`_Trouble`): it starts
    after the last line end before that byte (records before it hold no quote, so that
    line end is outside quotes) and ends at its first line end outside quotes.
    """
    if _is_clean(data):  # memchr and a strict decode: the usual case
        return data, []
    trouble = _Trouble(data)
    at = trouble.next(0)
    if at < 0:
        return data, []
    body = data.find(b"\n") + 1
    if body == 0 or at < body:
        return None
    spans, careful = [data[:body]], []
    pos, offset = body, 0
    while at >= 0:
        start = max(pos, data.rfind(b"\n", pos, at) + 1)
        offset += data.count(b"\n", pos, start)
        spans.append(data[pos:start])
        end = record_end(data, start)
        if end < 0:
            if data.count(b'"', start) % 2:
                return None  # unterminated quote: the careful way names its row
            end = len(data)
        careful.append((offset, data[start:end]))
        offset += 1
        pos = end
        at = trouble.next(pos)
    spans.append(data[pos:])
    return b"".join(spans), careful


class _Trouble:
    """Finds the bytes that send a record the careful way: a quote, a byte that is not
    UTF-8, a carriage return that does not end a line. Each kind is looked for with the
    bytes methods (memchr; a strict decode of a window of lines, which stops at the first
    bad byte), and each one's next position is kept until the search passes it: a regex
    over the decoded text cost ~15 ms per 2 MB, this ~2 ms with a bad row in ten.
    """

    _WINDOW = 32 << 10

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.lone_cr = data.count(b"\r") != data.count(b"\r\n")
        self.found = [-2, -2, -2]  # the next quote, bad byte, lone CR (-2: not looked for)

    def next(self, pos: int) -> int:
        """The offset of the first troublesome byte at or after `pos`, or -1."""
        finders = (self._quote, self._bad_byte, self._lone_cr)
        for kind, finder in enumerate(finders):
            if -1 < self.found[kind] < pos or self.found[kind] == -2:
                self.found[kind] = finder(pos)
        return min((at for at in self.found if at >= 0), default=-1)

    def _quote(self, pos: int) -> int:
        return self.data.find(b'"', pos)

    def _lone_cr(self, pos: int) -> int:
        at = self.data.find(b"\r", pos) if self.lone_cr else -1
        while at >= 0 and self.data[at + 1 : at + 2] == b"\n":
            at = self.data.find(b"\r", at + 1)
        return at

    def _bad_byte(self, pos: int) -> int:
        data = self.data
        while pos < len(data):
            end = data.find(b"\n", pos + self._WINDOW)  # line ends are never inside a character
            end = len(data) if end < 0 else end + 1
            try:
                data[pos:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                return pos + exc.start
            pos = end
        return -1


def _is_clean(data: bytes) -> bool:
    """Whether a chunk may take the fast path whole (see `_FastLines.add` for the rest)."""
    if b'"' in data:
        return False
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _FastLines:
    """Reads the lines of fast-path chunks with polars' CSV reader, twice: each line whole
    (the raw record) and cut at the delimiter (its values); wrong field counts are
    sorted out in one go at the end (`frame`).

    Both reads treat every byte as data (no quote character, no comment) and give one row
    per line, a blank line included (null), so row k of the two is the same line. Reading
    is ~2x cheaper than splitting the text with string expressions (`str.split`,
    `split_exact`), which search for the delimiter byte by byte.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.parts: list[pl.DataFrame] = []

    def add(
        self, data: bytes, first_row: int, position: int, taken: Sequence[int] = ()
    ) -> tuple[bytes, int] | None:
        """Take one chunk (UTF-8, no quote, no lone carriage return); return its header line
        and its count of non-blank records.

        `taken`: offsets (sorted) of the data records that were taken out of `data` for the
        careful way; the lines keep their row numbers by skipping them.
        Returns None, taking nothing, when the reader cannot take the chunk as it is (a
        delimiter of more than one byte, a NUL byte, a line that starts with a byte order
        mark, which the reader would drop) or a line might hold a field over
        MAX_FIELD_BYTES: the careful path gives that field its row error.
        """
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        header, _, body = data.partition(b"\n")
        delimiter = self.delimiter.encode()
        if len(delimiter) != 1 or b"\x00" in data or body.startswith(BOM):
            return None
        lines = _read_lines(body)
        if len(header) > MAX_FIELD_BYTES or (
            len(body) > MAX_FIELD_BYTES and lines.str.len_bytes().max() > MAX_FIELD_BYTES  # type: ignore[operator]
        ):
            return None
        values = _read_values(body, self.delimiter, header.count(delimiter) + 1)
        count = len(lines)
        numbers = pl.int_range(first_row, first_row + count + len(taken), dtype=pl.Int64,
                               eager=True)  # fmt: skip
        if taken:
            skipped = pl.Series([first_row + offset for offset in taken], dtype=pl.Int64)
            numbers = numbers.filter(numbers.is_in(skipped.implode()).not_())
        frame = pl.DataFrame({ROW: numbers, RAW: lines}).with_columns(
            pl.lit(position, pl.Int32).alias(CHUNK)
        )
        self.parts.append(pl.concat([frame, values], how="horizontal"))
        return header, count - lines.null_count()

    def frame(
        self, columns: tuple[str, ...], file: str, delimiter: str
    ) -> tuple[pl.DataFrame, list[ErrorRecord]]:
        """The well-formed records with their values; wrong field counts become errors.

        A line has as many fields as the header when its values' lengths plus one delimiter
        between each two add up to its own length: with fewer fields the missing ones add
        nothing, with more the values stop before the line does.
        """
        names = [_value_name(n) for n in range(len(columns))]
        empty = pl.DataFrame(schema={ROW: pl.Int64, RAW: pl.String, CHUNK: pl.Int32}
                             | dict.fromkeys(names, pl.String))  # fmt: skip
        frame = pl.concat([empty, *self.parts]).filter(pl.col(RAW).is_not_null())
        width = pl.sum_horizontal(pl.col(name).str.len_bytes() for name in names)
        fits = (width + len(names) - 1) == pl.col(RAW).str.len_bytes()
        frame = frame.with_columns(fits.alias(_FIELDS))
        bad = frame.filter(pl.col(_FIELDS).not_()).select(
            ROW, RAW, (pl.col(RAW).str.count_matches(delimiter, literal=True) + 1).alias(_FIELDS)
        )
        errors = [
            _field_count_error(file, row, raw, len(columns), found)
            for row, raw, found in bad.iter_rows()
        ]
        good = frame.filter(pl.col(_FIELDS)).select(
            ROW, RAW, CHUNK, *(pl.col(n).alias(c) for n, c in zip(names, columns, strict=True))
        )
        return good, errors


def _value_name(n: int) -> str:
    return f"__value{n}"


def _read_lines(data: bytes) -> pl.Series:
    """Each line of `data` as it is (null for a blank line)."""
    frame = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x00", quote_char=None,
                        schema={RAW: pl.String}, extra_columns="ignore")  # fmt: skip
    return frame.get_column(RAW)


def _read_values(data: bytes, delimiter: str, width: int) -> pl.DataFrame:
    """The first `width` values of each line of `data` (empty strings for missing ones)."""
    schema = dict.fromkeys((_value_name(n) for n in range(width)), pl.String)
    return pl.read_csv(io.BytesIO(data), has_header=False, separator=delimiter, quote_char=None,
                       schema=schema, truncate_ragged_lines=True, missing_columns="insert",
                       extra_columns="ignore", empty_string_is_null=False)  # fmt: skip


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
    numbered = [(first_row + offset, record) for offset, record in enumerate(records[1:])]
    frame, errors = _careful_rows(numbered, columns, file, delimiter, position)
    return ParsedChunks(columns, frame, errors, [frame.height + len(errors)])


def _careful_rows(
    records: Sequence[tuple[int, bytes]],
    columns: tuple[str, ...],
    file: str,
    delimiter: str,
    position: int,
) -> tuple[pl.DataFrame, list[ErrorRecord]]:
    """The frame of the well-formed ones of (row, record bytes), and the others' errors;
    blank records are skipped."""
    values: dict[str, list[str]] = {name: [] for name in columns}
    numbers: list[int] = []
    raws: list[str] = []
    errors: list[ErrorRecord] = []
    for row, record in records:
        raw = strip_eol(record)
        if not raw:
            continue
        fields, error = _parse_record(raw, row, file, delimiter, len(columns))
        if error is not None:
            errors.append(error)
            continue
        numbers.append(row)
        raws.append(raw.decode("utf-8"))
        for name, value in zip(columns, fields, strict=True):
            values[name].append(value)
    frame = pl.DataFrame(
        {ROW: numbers, RAW: raws, CHUNK: [position] * len(numbers), **values},
        schema={ROW: pl.Int64, RAW: pl.String, CHUNK: pl.Int32} | dict.fromkeys(columns, pl.String),
    )
    return frame, errors


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
