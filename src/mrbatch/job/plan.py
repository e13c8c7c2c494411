"""Plan a local job: count the records of an input file and cut it into batches, in one pass.

A batch is a run of whole chunks (`records_per_batch` is a multiple of the chunk size), given
by byte offsets in the file, so worker processes read their records straight from the input
instead of from chunk files written and read back. The records and the errors are exactly
those of `split` and `count_records`: the file is scanned a block at a time with
`bytes.count` (a record ends at every line end outside quotes). A block with quotes is first
masked: every line end inside quotes becomes a space (same length, so offsets hold), at a
cost per quote, not per record. A file that fails (unterminated quote, record too long)
after a quote was seen is planned again with `split` itself, which names the row as always.

Example:
    >>> import io
    >>> plan = plan_batches(io.BytesIO(b"a,b\\n1,2\\n3,4\\n5,6\\n"), records_per_batch=2)
    >>> plan.records, [(b.start, b.end, b.first_row, b.records) for b in plan.batches]
    (3, [(4, 12, 2, 2), (12, 16, 4, 1)])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from mrbatch.errors import InputFileError
from mrbatch.pipeline.records import MAX_RECORD_BYTES
from mrbatch.pipeline.split import BOM, Header, read_header, split

__all__ = ["Batch", "Plan", "plan_batches"]

_BLOCK = 1 << 20  # below MAX_RECORD_BYTES, so only a record across blocks can be too long


@dataclass(frozen=True)
class Batch:
    """Records `first_row` .. `first_row + records - 1`: bytes `start` to `end` of the file."""

    start: int
    end: int
    first_row: int
    records: int


@dataclass(frozen=True)
class Plan:
    """The header, the number of data records (as `count_records`), and the batches."""

    header: Header
    records: int
    batches: tuple[Batch, ...]


def plan_batches(
    stream: BinaryIO, *, records_per_batch: int, file: str = "input", delimiter: str = ","
) -> Plan:
    """Plan the seekable `stream`; raises InputFileError as `split` would on a bad file."""
    if records_per_batch < 1:
        raise ValueError("records_per_batch must be at least 1")
    header = read_header(stream, file=file, delimiter=delimiter)
    stream.seek(0)
    start = (len(BOM) if stream.read(len(BOM)) == BOM else 0) + len(header.raw)
    stream.seek(start)
    scanner = _Scanner(start, records_per_batch, file)
    try:
        if scanner.scan(stream):
            return Plan(header, scanner.records, tuple(scanner.batches))
    except InputFileError:
        if not scanner.quotes:
            raise
    stream.seek(0)
    return _plan_with_split(stream, header, start, records_per_batch, file)


class _Scanner:
    """Counts line ends outside quotes block by block; returns False when the file ends
    inside a quote (then `split` gives the error)."""

    def __init__(self, start: int, per_batch: int, file: str) -> None:
        self.records = 0  # complete records seen so far
        self.batches: list[Batch] = []
        self._file = file
        self._per_batch = per_batch
        self._batch_start = start
        self._offset = start  # file offset of the next block
        self._partial = 0  # bytes of the record being read (no line end seen yet)
        self._quoted = False  # whether the next block starts inside quotes
        self.quotes = False  # whether a quote was seen

    def scan(self, stream: BinaryIO) -> bool:
        while block := _read(stream, self._file):
            if self._quoted or b'"' in block:
                self.quotes = True
                block = self._mask(block)
            self._take(block)
        if self._quoted:
            return False
        if self._partial:
            self.records += 1
        batch_first = len(self.batches) * self._per_batch
        if self.records > batch_first:
            self._cut(self._offset, self.records - batch_first)
        return True

    def _mask(self, block: bytes) -> bytes:
        """`block` with each line end inside quotes made a space. Quote parity decides what
        is inside: a doubled quote (`""`) flips it twice, as in `records.record_end`."""
        pieces = []
        pos = 0
        while (quote := block.find(b'"', pos)) >= 0:
            segment = block[pos:quote]
            pieces.append(segment.replace(b"\n", b" ") if self._quoted else segment)
            pieces.append(b'"')
            self._quoted = not self._quoted
            pos = quote + 1
        rest = block[pos:]
        pieces.append(rest.replace(b"\n", b" ") if self._quoted else rest)
        return b"".join(pieces)

    def _take(self, block: bytes) -> None:
        newline = block.find(b"\n")
        if newline < 0:
            self._partial += len(block)
            if self._partial > MAX_RECORD_BYTES:
                self._too_long()
            self._offset += len(block)
            return
        if self._partial + newline + 1 > MAX_RECORD_BYTES:
            self._too_long()
        count = block.count(b"\n")
        target = (len(self.batches) + 1) * self._per_batch
        while self.records + count >= target:
            position = _nth_line_end(block, target - self.records)
            self._cut(self._offset + position + 1, self._per_batch)
            target += self._per_batch
        self.records += count
        self._partial = len(block) - block.rfind(b"\n") - 1
        self._offset += len(block)

    def _cut(self, end: int, records: int) -> None:
        first_row = len(self.batches) * self._per_batch + 2
        self.batches.append(Batch(self._batch_start, end, first_row, records))
        self._batch_start = end

    def _too_long(self) -> None:
        raise InputFileError(
            self._file,
            f"row {self.records + 2}: a record is longer than "
            f"{MAX_RECORD_BYTES // (1024 * 1024)} MiB (an unterminated quote?)",
        )


def _read(stream: BinaryIO, file: str) -> bytes:
    try:
        return stream.read(_BLOCK)
    except OSError as exc:
        raise InputFileError(file, f"cannot be read: {exc.strerror or exc}") from exc


def _nth_line_end(block: bytes, n: int) -> int:
    """Offset of the `n`-th `\\n` of `block` (1-based; the caller knows there are that many).

    Halving the range with `bytes.count` scans the block about once.
    """
    low, high = 0, len(block)  # the n-th line end from `low` is in [low, high)
    while high - low > 4096:
        middle = (low + high) // 2
        before = block.count(b"\n", low, middle)
        if before >= n:
            high = middle
        else:
            n, low = n - before, middle
    position = low - 1
    for _ in range(n):
        position = block.find(b"\n", position + 1)
    return position


def _plan_with_split(
    stream: BinaryIO, header: Header, start: int, per_batch: int, file: str
) -> Plan:
    """The exact, slower way for files with quotes: `split` finds the records."""
    batches = []
    offset = start
    for chunk in split(stream, chunk_size=per_batch, file=file):
        length = len(chunk.data) - len(header.raw)
        batches.append(Batch(offset, offset + length, chunk.first_row, chunk.records))
        offset += length
    return Plan(header, sum(batch.records for batch in batches), tuple(batches))
