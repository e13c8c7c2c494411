"""The per-record chunk processor's handlers: "Read File", "Validate Data", "Write output file".

This is the AWS sample's flow, kept for fidelity (`chunk_processor.asl.json`): one state per
record validates it, one enriches it through the enrichment API (`apigateway:invoke`), one
stores a rejected record in the error table (`dynamodb:putItem`); a last step writes the
processed chunk. It writes byte-identical objects to the batched processor's
(`steps.process_chunk_batched`) because both go through the same pipeline code:

- row numbers and record bytes come from the pipeline's `split` (one record per piece);
- "Validate Data" runs the pipeline's `process_chunk` on the header plus that one record,
  so an error record (row, field, rule, message, raw row) is exactly the batched one;
- "Write output file" builds the chunk with `process_chunk` over the chunk object and the
  financial data the per-record states fetched, checks that the rows it rejects are
  exactly the rows the per-record states rejected, and commits through `steps.commit_chunk`
  (same keys, bytes, metadata, errors part), so merging works unchanged.

Payload (Step Functions' 256 KiB per state): records travel as `{"row", "text"}`; a record
that is not UTF-8 as `{"row", "base64"}`; a large record (or once the chunk's inline budget
is spent) as `{"row"}` alone, which "Validate Data" re-reads from the chunk object. The
Map's results are compact (`{"row", "rule"}` or `{"row", "financials": [7 strings]}`), so
a chunk of ~2,000 sample-sized records fits; beyond that the engine fails the chunk with
States.DataLimitExceeded, as AWS would.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mrbatch.errors import ConfigError, MrBatchError, ValidationError
from mrbatch.handlers import payloads
from mrbatch.handlers.payloads import ChunkTask, ChunkWrite, ReadRecords
from mrbatch.handlers.region import Region, current_region
from mrbatch.handlers.steps import commit_chunk, reused_chunk
from mrbatch.model import FinancialRecord
from mrbatch.pipeline import ChunkResult, process_chunk, read_header, split

__all__ = [
    "HISTORY_EVENTS_PER_RECORD",
    "INLINE_BUDGET_BYTES",
    "INLINE_RECORD_BYTES",
    "MAX_CHUNK_SIZE",
    "ChunkVerdictMismatchError",
    "check_chunk_size",
    "read_file",
    "validate_data",
    "write_output_file",
]

INLINE_RECORD_BYTES = 8 * 1024
"""A record larger than this travels by reference (its row number only)."""
INLINE_BUDGET_BYTES = 160 * 1024
"""Record bytes one "Read File" result may carry inline, under the 256 KiB state limit."""
_ENRICHMENT = "enrichment"
HISTORY_EVENTS_PER_RECORD = 16
"""An upper bound of the history events one record costs the per-record processor (its
Map iteration, Validate, enrichment and error-table tasks): about 14.5 measured, with
invalid rows; tests/workflows/test_chunk_size_quota.py checks the bound."""
MAX_CHUNK_SIZE = 1_500
"""The most records a chunk of the per-record processor may have: 1,500 x 16 events plus
the chunk's own stay under AWS's 25,000 events per execution history, where the execution
fails (here as there). The batched processor writes a few events per chunk whatever its
size, so this cap is checked only where the per-record processor is chosen
(`check_chunk_size`)."""


def check_chunk_size(chunk_size: int) -> int:
    """`chunk_size` if the per-record processor can run chunks of that many records, else
    ConfigError saying why and what to do."""
    if chunk_size > MAX_CHUNK_SIZE:
        raise ConfigError(
            f"chunk size {chunk_size:,} is too large for the per-record chunk processor: at "
            f"most {MAX_CHUNK_SIZE:,} rows, so that its executions (up to "
            f"{HISTORY_EVENTS_PER_RECORD} events per row) stay under AWS's 25,000 history "
            "events per execution; choose a smaller chunk size or the batched processor"
        )
    return chunk_size


class ChunkVerdictMismatchError(MrBatchError):
    """The per-record states and the chunk writer disagree on which rows are rejected."""


# --- Read File ---------------------------------------------------------------------------


def read_file(event: ChunkTask) -> ReadRecords:
    """The chunk's header and its non-blank records with their row numbers in the file.

    Returns no records when the chunk's output already exists for the same chunk bytes
    ("Write output file" then reuses it)."""
    region = current_region()
    if reused_chunk(region, event) is not None:
        return {"header": "", "records": []}
    data = region.store.get_bytes(event["chunk"]["key"])
    header = read_header(io.BytesIO(data), file=event["key"]).raw
    offset = int(event["chunk"]["firstRow"]) - 2  # split numbers the chunk's rows from 2
    records: list[dict[str, Any]] = []
    budget = INLINE_BUDGET_BYTES
    for piece in _records(data, header, event["key"]):
        row, raw = piece[0] + offset, piece[1]
        if _strip_eol(raw):
            record = _compact(row, raw, budget)
            budget -= len(raw) if len(record) > 1 else 0
            records.append(record)
    return {"header": header.decode("utf-8"), "records": records}


def _records(data: bytes, header: bytes, file: str) -> list[tuple[int, bytes]]:
    """(row, record bytes) of every record of a chunk, as the pipeline's split cuts them."""
    pieces = []
    for piece in split(io.BytesIO(data), chunk_size=1, file=file):
        if not piece.data.startswith(header):
            raise MrBatchError(f"{file}: a record piece does not start with the chunk header")
        pieces.append((piece.first_row, piece.data[len(header) :]))
    return pieces


def _compact(row: int, raw: bytes, budget: int) -> dict[str, Any]:
    if len(raw) > INLINE_RECORD_BYTES or len(raw) > budget:
        return {"row": row}
    try:
        return {"row": row, "text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"row": row, "base64": base64.b64encode(raw).decode("ascii")}


def _strip_eol(raw: bytes) -> bytes:
    """The record without its line end (`\\n` or `\\r\\n`), as the pipeline's raw row."""
    return raw.removesuffix(b"\n").removesuffix(b"\r") if raw.endswith(b"\n") else raw


# --- Validate Data -----------------------------------------------------------------------


class _EchoSource:
    """A FinancialSource that knows every uuid: validation alone, and the record's uuid."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        self.asked.extend(uuids)
        return {uuid: FinancialRecord("", "", "", "", "", "") for uuid in uuids}


def validate_data(event: dict[str, Any]) -> dict[str, Any]:
    """Validate one record against the region's rules; returns `{"uuid", "rawRow"}`.

    Raises ValidationError whose message is the error record as JSON
    (`{"field", "rule", "message", "raw_row"}`), caught by the workflow."""
    region = current_region()
    row = int(event["record"]["row"])
    raw = _record_bytes(region, event)
    echo = _EchoSource()
    result = process_chunk(
        event["header"].encode("utf-8") + raw,
        rules=region.rules,
        financials=echo,
        first_row=row,
        file=event["key"],
    )
    if result.errors:
        error = result.errors[0]
        detail = {
            "field": error.field,
            "rule": error.rule,
            "message": error.message,
            "raw_row": error.raw_row,
        }
        raise ValidationError(json.dumps(detail, ensure_ascii=False))
    if result.rows_written != 1 or len(echo.asked) != 1:
        raise MrBatchError(f"{event['key']}: row {row} is not exactly one record")
    return {"uuid": echo.asked[0], "rawRow": _strip_eol(raw).decode("utf-8")}


def _record_bytes(region: Region, event: dict[str, Any]) -> bytes:
    record = event["record"]
    if "text" in record:
        return str(record["text"]).encode("utf-8")
    if "base64" in record:
        return base64.b64decode(record["base64"])
    chunk = event["chunk"]
    data = region.store.get_bytes(chunk["key"])
    header = read_header(io.BytesIO(data), file=event["key"]).raw
    offset = int(chunk["firstRow"]) - 2
    for row, raw in _records(data, header, event["key"]):
        if row + offset == int(record["row"]):
            return raw
    raise MrBatchError(f"{event['key']}: row {record['row']} is not in {chunk['key']}")


# --- Write output file -------------------------------------------------------------------


class _FetchedSource:
    """The financial data the per-record states fetched, as a FinancialSource."""

    def __init__(self, found: Mapping[str, FinancialRecord]) -> None:
        self._found = found

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        return {uuid: self._found[uuid] for uuid in uuids if uuid in self._found}


def write_output_file(event: ChunkWrite) -> payloads.ChunkResult:
    """Write the processed chunk from the per-record results; returns the chunk's counts
    (`{"name", "reused", "rowsRead", ...}`, as the batched processor)."""
    region = current_region()
    reused = reused_chunk(region, event)
    if reused is not None:
        return reused
    chunk = event["chunk"]
    results = event["read"]["records"]
    found = {
        str(values[0]): FinancialRecord(*(str(v) for v in values[1:]))
        for values in (result["financials"] for result in results if "financials" in result)
    }
    source_etag = region.store.head(chunk["key"]).etag
    result = process_chunk(
        region.store.get_bytes(chunk["key"]),
        rules=region.rules,
        financials=_FetchedSource(found),
        first_row=int(chunk["firstRow"]),
        file=event["key"],
    )
    _check_verdicts(event["key"], chunk["name"], result, results)
    return commit_chunk(region, event, result, source_etag)


def _check_verdicts(
    file: str, name: str, result: ChunkResult, results: list[dict[str, Any]]
) -> None:
    """The rows the chunk writer rejects, by rule, must be those the per-record states did."""
    written = {error.row: error.rule for error in result.errors}
    per_record = {int(r["row"]): str(r["rule"]) for r in results if "rule" in r}
    if written != per_record:
        differ = sorted(set(written.items()) ^ set(per_record.items()))[:5]
        raise ChunkVerdictMismatchError(
            f"{file} {name}: the per-record states and the chunk writer disagree on the "
            f"rejected rows (row, rule): {differ}"
        )
