"""Finding CSV record boundaries in raw bytes, without decoding or parsing the fields.

A line end (`\\n`, optionally preceded by `\\r`) ends a record exactly when it is outside
quotes, and it is outside quotes exactly when the number of `"` bytes since the start of the
record is even (a quote inside a quoted field is written `""`, which keeps the parity). So
boundaries can be found with `bytes.find` and `bytes.count`, which run at C speed; the common
case of a record without any quote costs two `find` calls. UTF-8 never uses the bytes `"`
or `\\n` inside a multi-byte sequence, so this is safe before decoding.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["MAX_RECORD_BYTES", "UnterminatedQuote", "record_end", "split_records", "strip_eol"]

# A record longer than this fails the file: it bounds the memory a single record can take
# (a field over 1 MiB is only a row error; see process.MAX_FIELD_BYTES).
MAX_RECORD_BYTES = 16 * 1024 * 1024


class UnterminatedQuote(Exception):
    """The data ended inside a quoted field."""


def record_end(buf: bytes, start: int) -> int:
    """Return the offset just past the line end that ends the record starting at `start`.

    Returns -1 when `buf` holds no complete record from `start` (more data is needed, or the
    record is the last one and has no line end).
    """
    newline = buf.find(b"\n", start)
    if newline < 0:
        return -1
    if buf.find(b'"', start, newline) < 0:
        return newline + 1
    quotes = 0
    pos = start
    while newline >= 0:
        quotes += buf.count(b'"', pos, newline)
        if quotes % 2 == 0:
            return newline + 1
        pos = newline + 1
        newline = buf.find(b"\n", pos)
    return -1


def strip_eol(record: bytes) -> bytes:
    """Return `record` without its line end (`\\n` or `\\r\\n`), if it has one."""
    if record.endswith(b"\r\n"):
        return record[:-2]
    if record.endswith(b"\n"):
        return record[:-1]
    return record


def split_records(data: bytes) -> Iterator[bytes]:
    """Yield every record of `data` with its line end; the last one may have none.

    Raises UnterminatedQuote when the last record opens a quote it never closes.
    """
    pos = 0
    while pos < len(data):
        end = record_end(data, pos)
        if end < 0:
            if data.count(b'"', pos) % 2:
                raise UnterminatedQuote
            yield data[pos:]
            return
        yield data[pos:end]
        pos = end
