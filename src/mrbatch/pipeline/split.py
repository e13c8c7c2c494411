"""Split: cut a CSV byte stream into chunks of N records, each starting with the header.

Splitting never decodes or parses fields: it only finds record boundaries (see `records`),
so the chunk bytes are exactly the input bytes, and merging the chunks back gives the input
again. A UTF-8 byte-order mark is removed from the header. Row numbers count records, the
header being row 1, so for a file without line breaks inside quoted fields a row number is
also the line number a text editor shows.

Example:
    >>> import io
    >>> chunks = list(split(io.BytesIO(b"a,b\\n1,2\\n3,4\\n5,6\\n"), chunk_size=2))
    >>> [(c.index, c.first_row, c.records, c.data) for c in chunks]
    [(1, 2, 2, b'a,b\\n1,2\\n3,4\\n'), (2, 4, 1, b'a,b\\n5,6\\n')]
    >>> chunk_name(2, total=10)
    'part-00002-of-00010.csv'
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mrbatch.errors import InputFileError
from mrbatch.model import DEFAULT_CHUNK_SIZE
from mrbatch.pipeline.records import MAX_RECORD_BYTES, record_end, strip_eol

__all__ = [
    "BOM",
    "DEFAULT_CHUNK_SIZE",
    "Chunk",
    "Header",
    "chunk_count",
    "chunk_name",
    "count_records",
    "read_header",
    "split",
]

BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """Records `first_row` .. `first_row + records - 1` of a file, after a copy of its header."""

    index: int
    first_row: int
    records: int
    data: bytes


@dataclass(frozen=True)
class Header:
    """A file's header record: its bytes (no BOM, with line end) and its column names."""

    raw: bytes
    columns: tuple[str, ...]


def chunk_name(index: int, total: int) -> str:
    """Name of chunk `index` (1-based) of `total`; names sort in chunk order."""
    width = max(5, len(str(total)))
    return f"part-{index:0{width}d}-of-{total:0{width}d}.csv"


def chunk_count(records: int, chunk_size: int) -> int:
    """How many chunks `records` data records make."""
    return -(-records // chunk_size)


class _RecordReader:
    """Reads whole records from a stream, a block at a time."""

    def __init__(self, stream: BinaryIO, file: str, max_record_bytes: int) -> None:
        self._stream = stream
        self._file = file
        self._max = max_record_bytes
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.row = 0  # records consumed so far (the header is record 1)

    def take(self, n: int, *, keep: bool = True) -> tuple[bytes, int]:
        """Consume up to `n` records; return their bytes (if `keep`) and how many there were."""
        start = pos = self._pos
        count = 0
        while count < n:
            end = record_end(self._buf, pos)
            if end >= 0:
                if end - pos > self._max:
                    self._too_long(count)
                pos, count = end, count + 1
                continue
            if not self._eof:
                start, pos = self._fill(start if keep else pos, pos, count)
                continue
            if pos < len(self._buf):
                self._check_quotes(pos, count)
                pos, count = len(self._buf), count + 1
            break
        self._pos = pos
        self.row += count
        return (self._buf[start:pos] if keep else b""), count

    def _fill(self, retain: int, pos: int, count: int) -> tuple[int, int]:
        if len(self._buf) - pos > self._max:
            self._too_long(count)
        try:
            block = self._stream.read(_BLOCK)
        except OSError as exc:
            raise InputFileError(self._file, f"cannot be read: {exc.strerror or exc}") from exc
        self._eof = not block
        self._buf = self._buf[retain:] + block
        return 0, pos - retain

    def _check_quotes(self, pos: int, count: int) -> None:
        row = self.row + count + 1
        if self._buf.count(b'"', pos) % 2:
            raise InputFileError(
                self._file, f"row {row}: a quoted field is never closed (unterminated quote)"
            )
        if len(self._buf) - pos > self._max:
            self._too_long(count)

    def _too_long(self, count: int) -> None:
        raise InputFileError(
            self._file,
            f"row {self.row + count + 1}: a record is longer than {self._max // (1024 * 1024)} MiB "
            "(an unterminated quote?)",
        )


def read_header(stream: BinaryIO, *, file: str, delimiter: str = ",") -> Header:
    """Read and parse the header record at the start of `stream`.

    Raises InputFileError for an empty file, a header that is not UTF-8 text, or one that is
    not a CSV record (NUL bytes, a malformed quote, empty or duplicate column names).
    """
    raw, count = _RecordReader(stream, file, MAX_RECORD_BYTES).take(1)
    if count == 0:
        raise InputFileError(file, "the file is empty (0 bytes)")
    return parse_header(raw.removeprefix(BOM), file=file, delimiter=delimiter)


def parse_header(raw: bytes, *, file: str, delimiter: str = ",") -> Header:
    """Parse a header record (no BOM); see `read_header` for what it refuses."""
    if b"\x00" in raw:
        raise InputFileError(file, "not a CSV file (NUL byte in the header)")
    try:
        text = strip_eol(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(file, "the header is not UTF-8 text") from exc
    if not text.strip():
        raise InputFileError(file, "the header row is empty")
    try:
        columns = tuple(next(csv.reader([text], delimiter=delimiter, strict=True)))
    except csv.Error as exc:
        raise InputFileError(file, f"the header is not a CSV record ({exc})") from exc
    if any(not name for name in columns):
        raise InputFileError(file, "the header has an empty column name")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise InputFileError(file, f"duplicate header columns: {', '.join(duplicates)}")
    return Header(raw=raw, columns=columns)


def count_records(stream: BinaryIO, *, file: str, max_record_bytes: int = MAX_RECORD_BYTES) -> int:
    """Count the data records (not the header) of `stream`, reading it once in bounded memory.

    Raises InputFileError as `split` would, so a caller can refuse a file before writing.
    """
    reader = _RecordReader(stream, file, max_record_bytes)
    total = 0
    while True:
        _, count = reader.take(1 << 16, keep=False)
        if count == 0:
            return max(total - 1, 0)
        total += count


def split(
    stream: BinaryIO,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    file: str = "input",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[Chunk]:
    """Yield the chunks of `stream` in order; a header-only file yields none.

    The header keeps its own line end and loses a leading BOM; record bytes are copied as
    they are (the last record may lack a line end). Raises InputFileError (naming `file`)
    for an empty file, an unterminated quote, or a record over `max_record_bytes`.
    Memory: one chunk plus one read block.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    reader = _RecordReader(stream, file, max_record_bytes)
    header, count = reader.take(1)
    if count == 0:
        raise InputFileError(file, "the file is empty (0 bytes)")
    header = header.removeprefix(BOM)
    index = 0
    while True:
        first_row = reader.row + 1
        data, count = reader.take(chunk_size)
        if count == 0:
            return
        index += 1
        yield Chunk(index=index, first_row=first_row, records=count, data=header + data)
