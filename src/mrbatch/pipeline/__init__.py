"""The batch pipeline: split, validate, enrich, write, merge. Pure functions over bytes.

Nothing here keeps global state or talks to a region: the workflow handlers call these
functions chunk by chunk against their object store, and `mrbatch process` runs them
locally (`run_job`, the only part that touches files and processes).

The flow for one file::

    header = read_header(stream, file=name)          # file-level checks (InputFileError)
    rules.check_header(header.columns, file=name)
    for chunk in split(stream, chunk_size=1000, file=name):   # Chunk(index, first_row, ...)
        key = chunk_name(chunk.index, total)          # part-00001-of-00010.csv
        result = process_chunk(chunk.data, rules=rules, financials=source,
                               first_row=chunk.first_row, file=name)
        # result.output: CSV bytes with header; result.errors: ErrorRecords
    merge(outputs_in_chunk_order, out, header=output_header(header.columns))

Choices for troublesome bytes (also in docs/pipeline.md):
- bytes that are not UTF-8 in a record: a row error (rule `encoding`); in the header: the
  file fails.
- a field over 1 MiB: a row error (rule `maxFieldBytes`); a record over 16 MiB fails the
  file, which keeps memory bounded.
- an unterminated quote: the file fails (the quote swallows the rest of the file, so no
  row after it can be trusted).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mrbatch.model import ERROR_COLUMNS, ErrorRecord, FinancialRecord
from mrbatch.pipeline.columns import ENRICHED_COLUMNS, FINANCIAL_COLUMNS
from mrbatch.pipeline.merge import ERRORS_HEADER, errors_csv, merge
from mrbatch.pipeline.records import MAX_RECORD_BYTES
from mrbatch.pipeline.split import (
    DEFAULT_CHUNK_SIZE,
    Chunk,
    Header,
    chunk_count,
    chunk_name,
    count_records,
    read_header,
    split,
)

if TYPE_CHECKING:
    from mrbatch.pipeline.enrich import CsvFinancialSource, FinancialSource, FrameFinancialSource
    from mrbatch.pipeline.parse import MAX_FIELD_BYTES
    from mrbatch.pipeline.process import ChunkResult, output_header, process_chunk, write_csv
    from mrbatch.pipeline.rules import Rules, compile_rules, is_mdy_date, load_rules

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ENRICHED_COLUMNS",
    "ERRORS_HEADER",
    "ERROR_COLUMNS",
    "FINANCIAL_COLUMNS",
    "MAX_FIELD_BYTES",
    "MAX_RECORD_BYTES",
    "Chunk",
    "ChunkResult",
    "CsvFinancialSource",
    "ErrorRecord",
    "FinancialRecord",
    "FinancialSource",
    "FrameFinancialSource",
    "Header",
    "Rules",
    "chunk_count",
    "chunk_name",
    "compile_rules",
    "count_records",
    "errors_csv",
    "is_mdy_date",
    "load_rules",
    "merge",
    "output_header",
    "process_chunk",
    "read_header",
    "split",
    "write_csv",
]

# Where the other public names live. They are imported on first use (PEP 562), not with the
# package: their modules need polars (~0.2 s to import), and the process that runs
# `mrbatch process` only plans byte ranges and supervises workers; it never needs polars.
# (The modules above are light, and `split` and `merge` must be bound here: each is also the
# name of its module, which an import of that module would otherwise leave in its place.)
_HOMES = {
    "CsvFinancialSource": "mrbatch.pipeline.enrich",
    "FinancialSource": "mrbatch.pipeline.enrich",
    "FrameFinancialSource": "mrbatch.pipeline.enrich",
    "MAX_FIELD_BYTES": "mrbatch.pipeline.parse",
    "ChunkResult": "mrbatch.pipeline.process",
    "output_header": "mrbatch.pipeline.process",
    "process_chunk": "mrbatch.pipeline.process",
    "write_csv": "mrbatch.pipeline.process",
    "Rules": "mrbatch.pipeline.rules",
    "compile_rules": "mrbatch.pipeline.rules",
    "is_mdy_date": "mrbatch.pipeline.rules",
    "load_rules": "mrbatch.pipeline.rules",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is asked for (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
