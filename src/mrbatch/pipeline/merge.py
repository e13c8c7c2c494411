"""Merge: chunk outputs, in chunk order, into one stream with one header; the errors CSV.

Example:
    >>> import io
    >>> out = io.BytesIO()
    >>> merge([io.BytesIO(b"a,b\\n1,2\\n"), io.BytesIO(b"a,b\\n3,4\\n")], out, header=b"a,b\\n")
    >>> out.getvalue()
    b'a,b\\n1,2\\n3,4\\n'
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterable
from typing import BinaryIO

from mrbatch.model import ERROR_COLUMNS, ErrorRecord
from mrbatch.pipeline.records import record_end
from mrbatch.pipeline.split import BOM

__all__ = ["ERRORS_HEADER", "errors_csv", "merge"]

_HEADER_LIMIT = 1 << 20


def merge(parts: Iterable[BinaryIO], out: BinaryIO, *, header: bytes) -> None:
    """Write the header of the first part (or `header` if there are none), then the records
    of every part, in the order given, copying bytes as they are.

    Each part is a seekable stream starting with a header record; the header is skipped in
    all but the first. Memory: one copy buffer.
    """
    first = True
    for part in parts:
        head = _read_header(part)
        if first:
            out.write(head)
            first = False
        shutil.copyfileobj(part, out, 1 << 20)
    if first:
        out.write(header)


def _read_header(part: BinaryIO) -> bytes:
    """Consume and return the header record of a seekable `part` (quote-aware)."""
    start = part.tell()
    buf = b""
    end = -1
    while end < 0:
        block = part.read(64 * 1024)
        if not block or len(buf) > _HEADER_LIMIT:
            end = len(buf)
            break
        buf += block
        end = record_end(buf, 0)
    part.seek(start + end)
    return buf[:end].removeprefix(BOM)


def errors_csv(errors: Iterable[ErrorRecord], *, header: bool = True) -> bytes:
    """The errors CSV (columns ERROR_COLUMNS) for `errors`, `\\n` line ends."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(ERROR_COLUMNS)
    writer.writerows(error.as_row() for error in errors)
    return text.getvalue().encode("utf-8")


ERRORS_HEADER = errors_csv(())
