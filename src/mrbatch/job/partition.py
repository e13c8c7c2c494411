"""A partitioned join, for financial data too large for every worker to hold (worker side).

With the usual index (`FinancialIndex`), each worker holds all the financial data: ~70 MB per
worker at 1M rows, ~700 MB at 10M. Here no process ever holds more than one slice of it.
The uuids are cut into `slices` by a hash of their key, and the job runs in four steps,
each spread over the workers (the job waits for one step to finish before the next):

1. `route_financials`, per piece of the financial file: parse and check it, and write its
   rows to one file per slice;
2. `stage_batch`, per batch of the input: parse and validate (the errors are kept), and
   write the valid rows, with their output line's input part, to one file per slice;
3. `join_slice`, per slice: load that slice of the financial data (sorted, checked for
   repeated uuids), look up every batch's rows of the slice, write what it found;
4. `finish_batch`, per batch: put the slices' lines back in row order and write the output
   part and the errors part, byte for byte what `process_batch` writes for the batch.

All files go to the job's work directory, as uncompressed Arrow IPC (cheap to write and
read). The cost is writing and reading the valid rows twice more; the gain is a memory
bound: one slice, one batch and one piece at a time per worker.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import polars as pl

from mrbatch.model import ErrorRecord
from mrbatch.pipeline.enrich import (
    _KEY,
    _VALUES,
    ENRICHED_COLUMNS,
    FinancialIndex,
    _digits_key,
    _read_financials,
    csv_value,
)
from mrbatch.pipeline.merge import errors_csv
from mrbatch.pipeline.parse import RAW, ROW
from mrbatch.pipeline.process import parse_and_validate
from mrbatch.pipeline.rules import Rules

__all__ = [
    "finish_batch",
    "join_slice",
    "route_financials",
    "stage_batch",
]

_SLICE = "__slice"
_BATCH = "__batch"
# Batches whose rows of a slice are looked up together (~1,400 rows each at 18 slices).
_BATCHES_PER_LOOKUP = 32
_LINE = "__line"
_PREFIX = "__prefix"
_UUID = "uuid"


def _slice_of(uuids: pl.Expr, slices: int) -> pl.Expr:
    """The slice of each uuid: its integer key modulo `slices`, or a hash of the text for a
    uuid that is not all digits (seeded: the same in every worker of a job)."""
    key = _digits_key(uuids)
    hashed = uuids.hash(seed=0)
    return pl.coalesce(key % slices, (hashed % slices).cast(pl.Int64)).alias(_SLICE)


def route_financials(
    path: str, start: int, end: int, first_row: int, header: bytes, piece: int, work: str,
    slices: int,
) -> None:  # fmt: skip
    """Parse and check bytes `start`..`end` (whole records) of the financial file; write its
    rows slice by slice: digit uuids as (row, key, values text), any other uuid as (row,
    uuid, values text). Raises InputFileError as `FinancialIndex` would (a parse error may
    name a row of the piece)."""
    with open(path, "rb") as stream:
        stream.seek(start)
        data = header + stream.read(end - start)
    _, frame = _read_financials(io.BytesIO(data), path)
    del data
    values = pl.concat_str([csv_value(pl.col(name)) for name in ENRICHED_COLUMNS], separator=",")
    rows = frame.select(
        pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias(ROW),
        _UUID,
        _digits_key(pl.col(_UUID)).alias(_KEY),
        values.alias(_VALUES),
        _slice_of(pl.col(_UUID), slices),
    )
    del frame
    folder = Path(work)
    for (number,), part in rows.partition_by(_SLICE, as_dict=True, include_key=False).items():
        digits = part.filter(pl.col(_KEY).is_not_null()).select(ROW, _KEY, _VALUES)
        digits.write_ipc(folder / f"fin-{number}-{piece}.arrow")
        others = part.filter(pl.col(_KEY).is_null()).select(ROW, _UUID, _VALUES)
        if others.height:
            others.write_ipc(folder / f"oth-{number}-{piece}.arrow")


def stage_batch(
    batch: int, chunks: list[tuple[bytes, int]], rules: Rules, file: str, delimiter: str,
    work: str, slices: int,
) -> tuple[int, int]:  # fmt: skip
    """Parse and validate a batch; keep its errors; write its valid rows slice by slice as
    (row, uuid, raw record, input part of the output line). Returns (read, invalid)."""
    parsed, valid, invalid = parse_and_validate(chunks, rules, file, delimiter, _UUID)
    prefix = _quoted_values(parsed.columns)
    if delimiter == ",":
        # A record without quotes, comma-separated, is already its values as CSV text.
        plain = pl.col(RAW).str.contains('"', literal=True).not_()
        prefix = pl.when(plain).then(pl.col(RAW)).otherwise(prefix)
    rows = valid.select(
        ROW, pl.col(_UUID), RAW, prefix.alias(_PREFIX), _slice_of(pl.col(_UUID), slices)
    )
    folder = Path(work)
    parts = rows.partition_by(_SLICE, as_dict=True, include_key=False)
    empty = rows.drop(_SLICE).clear()
    for number in range(slices):
        parts.get((number,), empty).write_ipc(folder / f"stage-{batch}-{number}.arrow")
    errors = [*parsed.errors, *invalid]
    (folder / f"errors-{batch}.pickle").write_bytes(pickle.dumps(errors))
    return sum(parsed.records), len(errors)


def _quoted_values(columns: tuple[str, ...]) -> pl.Expr:
    return pl.concat_str([csv_value(pl.col(name)) for name in columns], separator=",")


def join_slice(number: int, pieces: int, batches: int, work: str) -> tuple[int, str] | None:
    """Load slice `number` of the financial data and look up every batch's rows of it.

    Returns (row, uuid) of the first row, in file order, whose uuid the slice holds twice
    (then nothing is looked up), or None.
    """
    folder = Path(work)
    digits, others = _load_slice(folder, number, pieces)
    report = _repeated(digits, _KEY) or _repeated(others, _UUID)
    if report is not None:
        row, uuid = report
        return row, uuid if isinstance(uuid, str) else _uuid_of_key(uuid)
    index = FinancialIndex(digits.select(_KEY, _VALUES), others.select(_UUID, _VALUES))
    del digits, others
    for first in range(0, batches, _BATCHES_PER_LOOKUP):
        group = range(first, min(batches, first + _BATCHES_PER_LOOKUP))
        _join_group(index, folder, number, group)
    return None


def _join_group(index: FinancialIndex, folder: Path, number: int, group: range) -> None:
    """Look up the slice's rows of a few batches at once (each polars call has a fixed
    cost: one lookup per batch and slice was most of the step's time)."""
    staged = pl.concat(
        pl.read_ipc(folder / f"stage-{batch}-{number}.arrow").with_columns(
            pl.lit(batch, pl.Int32).alias(_BATCH)
        )
        for batch in group
    )
    values = index.lookup_values(staged.get_column(_UUID))
    missing = pl.lit(values).is_null()
    found = staged.select(
        _BATCH,
        ROW,
        pl.concat_str([_PREFIX, pl.lit(values)], separator=",").alias(_LINE),
        pl.when(missing).then(pl.col(_UUID)).alias(_UUID),
        pl.when(missing).then(pl.col(RAW)).alias(RAW),
    )
    parts = found.partition_by(_BATCH, as_dict=True, include_key=False)
    empty = found.drop(_BATCH).clear()
    for batch in group:
        parts.get((batch,), empty).write_ipc(folder / f"found-{batch}-{number}.arrow")


def _load_slice(folder: Path, number: int, pieces: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The slice's digit uuids (row, key, values) sorted by key, and its other uuids (row,
    uuid, values) sorted by uuid. Read piece by piece, kept in the pieces' chunks."""
    digits = _read_pieces(folder, "fin", number, pieces, {ROW: pl.Int64, _KEY: pl.Int64})
    others = _read_pieces(folder, "oth", number, pieces, {ROW: pl.Int64, _UUID: pl.String})
    return digits.sort(_KEY), others.sort(_UUID)


def _read_pieces(
    folder: Path, kind: str, number: int, pieces: int, schema: dict[str, type[pl.DataType]]
) -> pl.DataFrame:
    """The rows of one kind of one slice from every piece, in the pieces' chunks."""
    names = [folder / f"{kind}-{number}-{piece}.arrow" for piece in range(pieces)]
    empty = pl.DataFrame(schema={**schema, _VALUES: pl.String})
    return pl.concat([empty, *(pl.read_ipc(name) for name in names if name.exists())],
                     rechunk=False)  # fmt: skip


def _repeated(table: pl.DataFrame, column: str) -> tuple[int, int | str] | None:
    """The first row (file order) of `table`, sorted by `column`, whose value appears
    twice, with that value; None if no value repeats (then two neighbours would be equal).
    """
    ordered = table.get_column(column)
    if len(ordered) < 2 or not (ordered.slice(1) == ordered.slice(0, len(ordered) - 1)).any():
        return None
    repeated = table.filter(pl.col(column).is_duplicated()).sort(ROW)
    row, value = repeated.select(ROW, column).row(0)
    return int(row), value


def _uuid_of_key(key: int) -> str:
    """The uuid a digits key stands for (see `enrich._digits_key`: length, then value)."""
    length, value = key >> 57, key & ((1 << 57) - 1)
    return str(value).zfill(length)


def finish_batch(
    batch: int, slices: int, work: str, file: str, output: str, errors: str
) -> tuple[int, int]:
    """Write a batch's output part and errors part from its slices' lines and its kept
    errors. Returns (written, not enriched)."""
    folder = Path(work)
    frames = [pl.read_ipc(folder / f"found-{batch}-{n}.arrow")
              for n in range(slices)]  # fmt: skip
    rows = pl.concat(frames).sort(ROW)
    written = rows.filter(pl.col(_LINE).is_not_null()).select(_LINE)
    buffer = io.BytesIO()
    written.write_csv(buffer, include_header=False, line_terminator="\n", quote_style="never")
    Path(output).write_bytes(buffer.getvalue())
    missing = [
        ErrorRecord(file, row, _UUID, "enrichment", f"no financial data for {_UUID} {uuid}", raw)
        for row, raw, uuid in rows.filter(pl.col(_LINE).is_null()).select(ROW, RAW, _UUID).rows()
    ]
    kept: list[ErrorRecord] = pickle.loads((folder / f"errors-{batch}.pickle").read_bytes())
    merged = sorted([*kept, *missing], key=lambda error: error.row)
    Path(errors).write_bytes(errors_csv(merged, header=False))
    return written.height, len(missing)
