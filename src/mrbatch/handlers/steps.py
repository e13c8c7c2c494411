"""The main orchestrator's steps and the batched chunk processor, as Lambda-style handlers.

Event shapes (JSON): the orchestrator's input is the trigger's
`{"fileId", "key", "versionId", "epoch", "region"}`; each step adds its result under its
own ResultPath (`split`, `merge`, `email`), as the ASL definitions say.

Idempotency: every object a step writes has a deterministic key and deterministic bytes;
a step that finds its output already there (same source ETag) reuses it, so a retry, a
resume after a crash or a re-drive in the other region redoes nothing that is done.

Speed: a put waits on the disk (the local store fsyncs each body) or on the network (S3),
so puts that do not depend on each other overlap on a few threads: the split's chunk
objects, a chunk's errors part with its error-table rows, the merge's two outputs. What
marks a step done (the processed object, written last) still waits for everything before
it. The split plans its chunks as `mrbatch process` plans its batches (`plan_batches`:
record ends counted a block at a time, the same records and errors as the pipeline's
`split`), then copies each chunk's byte range. bench/chunk_processors.py and
bench/stack.py measure the effect.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import IO, BinaryIO, cast

from mrbatch.errors import ConditionFailedError, InputFileError, ObjectNotFoundError
from mrbatch.handlers import batch_state as records
from mrbatch.handlers import naming, payloads
from mrbatch.handlers.fencing import check_fence, holds
from mrbatch.handlers.payloads import ChunkTask, FailedFile, FileRun, MergedFile, SplitFile
from mrbatch.handlers.region import Region, current_region
from mrbatch.job.plan import Plan, plan_batches
from mrbatch.model import ErrorRecord, FileStatus
from mrbatch.pipeline import (
    ERRORS_HEADER,
    ChunkResult,
    chunk_name,
    errors_csv,
    merge,
    output_header,
    read_header,
)
from mrbatch.pipeline.process import process_batch
from mrbatch.ports import OutgoingEmail

__all__ = [
    "commit_chunk",
    "email_the_file",
    "manifest_key",
    "merge_all_files",
    "process_chunk_batched",
    "read_manifest",
    "record_execution_end",
    "record_failed_file",
    "reused_chunk",
    "split_input_file",
]

_SPOOL_LIMIT = 8 << 20
_PUT_THREADS = 4  # concurrent chunk puts in the split; more gains nothing on a local disk
_PUT_WINDOW = 8  # chunks handed to the put threads at once (the rest wait in the spool)


@contextmanager
def _seekable(body: BinaryIO) -> Iterator[BinaryIO]:
    """`body` itself if it can seek, else a spooled copy (S3 streams cannot)."""
    with body:
        if body.seekable():
            yield body
            return
        with tempfile.SpooledTemporaryFile(_SPOOL_LIMIT) as copy:
            shutil.copyfileobj(body, copy, 1 << 20)
            copy.seek(0)
            yield copy  # type: ignore[misc]


def _put_if_changed(region: Region, key: str, data: bytes, metadata: dict[str, str]) -> None:
    """Write `data` under `key` unless the same bytes are already there."""
    try:
        if region.store.head(key).etag == hashlib.md5(data).hexdigest():
            return
    except ObjectNotFoundError:
        pass
    region.store.put(key, data, metadata=metadata)


# --- Split Input File into chunks --------------------------------------------------------


def split_input_file(event: FileRun) -> payloads.SplitResult:
    """Cut the input into chunk objects and list them in a manifest object (written last,
    so a manifest always names stored chunks); returns `{"bucket", "manifest", "chunks": n,
    "rows": n}`."""
    region = current_region()
    epoch, key, version = int(event["epoch"]), event["key"], event["versionId"]
    region.breakpoints.hold("split_input_file", region=region.name, key=key)
    check_fence(region, epoch)
    info, body = region.store.get(key)
    if info.version_id != version:
        body.close()
        raise InputFileError(key, f"version {version} was replaced by {info.version_id}")
    with _seekable(body) as stream:
        header = read_header(stream, file=key)
        region.rules.check_header(header.columns, file=key)
        stream.seek(0)
        plan = plan_batches(stream, records_per_batch=region.chunk_size, file=key)
        chunks = _put_chunks(region, stream, plan, version)
    manifest = manifest_key(version)
    _put_if_changed(region, manifest, _manifest(chunks), {})
    records.mark_running(region.batch_state, event["fileId"], epoch, chunks_total=len(chunks))
    region.metrics.count("InputFilesSplit", region=region.name)
    return {"bucket": region.store.bucket, "manifest": manifest, "chunks": len(chunks),
            "rows": plan.records}  # fmt: skip


def manifest_key(version_id: str) -> str:
    """The split's manifest object: one `ChunkRef` per line, in chunk order."""
    return f"{naming.work_prefix(version_id)}manifest.jsonl"


def _manifest(chunks: list[payloads.ChunkRef]) -> bytes:
    return "".join(json.dumps(chunk, separators=(",", ":")) + "\n" for chunk in chunks).encode()


def read_manifest(region: Region, key: str) -> Iterator[payloads.ChunkRef]:
    """The chunks a manifest lists, in order, read as a stream."""
    _info, body = region.store.get(key)
    with body:
        for line in body:
            if line.strip():
                yield cast(payloads.ChunkRef, json.loads(line))


def _put_chunks(
    region: Region, stream: BinaryIO, plan: Plan, version: str
) -> list[payloads.ChunkRef]:
    """Store every chunk object (unless already there): the header, then the chunk's byte
    range of the input, a few puts at a time, at most `_PUT_WINDOW` chunks read at once;
    returns the chunk list in order once all are stored. A failed put raises after the
    puts already started have finished."""
    listed: list[payloads.ChunkRef] = []
    total = len(plan.batches)
    with ThreadPoolExecutor(_PUT_THREADS, thread_name_prefix="mrbatch-split-put") as pool:
        pending: deque[Future[None]] = deque()
        for index, batch in enumerate(plan.batches):
            name = chunk_name(index + 1, total)
            chunk_key = naming.chunk_key(version, name)
            stream.seek(batch.start)
            data = plan.header.raw + stream.read(batch.end - batch.start)
            pending.append(pool.submit(_put_if_changed, region, chunk_key, data, {}))
            listed.append(
                {"name": name, "key": chunk_key, "firstRow": batch.first_row, "index": index}
            )
            if len(pending) >= _PUT_WINDOW:
                pending.popleft().result()
        for put in pending:
            put.result()
    return listed


# --- Process chunk (the batched chunk processor's one task) ------------------------------


def process_chunk_batched(event: ChunkTask) -> payloads.ChunkResult:
    """Validate, enrich and write one chunk; reuse its output if it already exists for the
    same chunk bytes (chunk-level resume after a failover). Returns the chunk's counts."""
    region = current_region()
    reused = reused_chunk(region, event)
    if reused is not None:
        return reused
    chunk = event["chunk"]
    region.breakpoints.hold(
        "process_chunk", region=region.name, key=event["key"], chunk=event["index"] + 1
    )
    source_etag = region.store.head(chunk["key"]).etag
    data = region.store.get_bytes(chunk["key"])
    result = _processed(region, data, int(chunk["firstRow"]), event["key"])
    return commit_chunk(region, event, result, source_etag)


def _processed(region: Region, data: bytes, first_row: int, file: str) -> ChunkResult:
    """The chunk through the pipeline's batch path, the one `mrbatch process` takes: one
    vectorised pass, and with a source that answers values text (the enrichment API's
    values route) no record built per row. Its output is `process_chunk`'s, byte for byte:
    the batch's records after the chunk's output header."""
    batch = process_batch(
        [(data, first_row)], rules=region.rules, financials=region.financials, file=file
    )
    columns = read_header(io.BytesIO(data), file=file).columns
    return ChunkResult(
        output=output_header(columns) + batch.body,
        errors=batch.errors,
        rows_read=batch.rows_read,
        rows_written=batch.rows_written,
        rows_invalid=batch.rows_invalid,
        rows_not_enriched=batch.rows_not_enriched,
    )


def reused_chunk(region: Region, event: ChunkTask) -> payloads.ChunkResult | None:
    """The chunk processor's result when the chunk's processed object already exists for
    the same chunk bytes (its `source-etag`), else None. Shared by both chunk processors."""
    chunk = event["chunk"]
    out_key = naming.processed_key(event["versionId"], chunk["name"])
    source_etag = region.store.head(chunk["key"]).etag
    try:
        meta = region.store.head(out_key).metadata
    except ObjectNotFoundError:
        return None
    if meta.get("source-etag") != source_etag:
        return None
    return {"name": chunk["name"], "reused": True, **_counts(meta)}


def _counts(metadata: Mapping[str, str]) -> payloads.ChunkCounts:
    """The counts a processed chunk's metadata carries (0 for a missing one)."""
    return {
        "rowsRead": int(metadata.get("rowsread", 0)),
        "rowsWritten": int(metadata.get("rowswritten", 0)),
        "rowsInvalid": int(metadata.get("rowsinvalid", 0)),
        "rowsNotEnriched": int(metadata.get("rowsnotenriched", 0)),
    }


def _add_counts(a: payloads.ChunkCounts, b: payloads.ChunkCounts) -> payloads.ChunkCounts:
    return {
        "rowsRead": a["rowsRead"] + b["rowsRead"],
        "rowsWritten": a["rowsWritten"] + b["rowsWritten"],
        "rowsInvalid": a["rowsInvalid"] + b["rowsInvalid"],
        "rowsNotEnriched": a["rowsNotEnriched"] + b["rowsNotEnriched"],
    }


def commit_chunk(
    region: Region, event: ChunkTask, result: ChunkResult, source_etag: str
) -> payloads.ChunkResult:
    """Store a processed chunk (fenced): its errors in the error table and as a CSV part,
    then the output object, whose metadata carries the counts and the chunk's ETag. Shared
    by both chunk processors, so they write the same keys, bytes and metadata."""
    chunk, version = event["chunk"], event["versionId"]
    counts: payloads.ChunkCounts = {
        "rowsRead": result.rows_read,
        "rowsWritten": result.rows_written,
        "rowsInvalid": result.rows_invalid,
        "rowsNotEnriched": result.rows_not_enriched,
    }
    check_fence(region, int(event["epoch"]))
    _store_errors(region, event["fileId"], version, chunk["name"], result.errors)
    metadata = {"source-etag": source_etag, **{k.lower(): str(v) for k, v in counts.items()}}
    region.store.put(naming.processed_key(version, chunk["name"]), result.output, metadata=metadata)
    return {"name": chunk["name"], "reused": False, **counts}


def _store_errors(
    region: Region, file_id: str, version: str, name: str, errors: tuple[ErrorRecord, ...]
) -> None:
    """The chunk's error records: into the error table, and as a headerless CSV part (put
    on a thread while the rows are written: both must be done before the output)."""
    part = errors_csv(errors, header=False)
    with ThreadPoolExecutor(1, thread_name_prefix="mrbatch-errors-put") as pool:
        put = pool.submit(region.store.put, naming.errors_part_key(version, name), part)
        _store_error_rows(region, file_id, errors)
        put.result()


def _store_error_rows(region: Region, file_id: str, errors: tuple[ErrorRecord, ...]) -> None:
    """One error-table item per invalid row, all of the chunk's in one `put_many` (one
    transaction on SQLite, 25-item batches on DynamoDB). Unconditional puts keyed by file
    and row: a retried chunk writes the same items again, so a partial batch is harmless."""
    region.errors.put_many(
        [
            {
                "file_id": file_id,
                "row": error.row,
                "field": error.field,
                "rule": error.rule,
                "message": error.message,
                "raw_row": error.raw_row,
            }
            for error in errors
        ]
    )


# --- Merge all Files ---------------------------------------------------------------------


def merge_all_files(event: SplitFile) -> payloads.MergeResult:
    """Merge the processed chunks in chunk order into the output, and the errors parts into
    the errors report, reading the chunk list from the split's manifest and one processed
    chunk at a time (streaming: no whole file, no open file per chunk). Returns
    `{"output", "errors", "counts"}`."""
    region = current_region()
    epoch, key, version = int(event["epoch"]), event["key"], event["versionId"]
    region.breakpoints.hold("merge_all_files", region=region.name, key=key)
    names = [chunk["name"] for chunk in read_manifest(region, event["split"]["manifest"])]
    output_key, errors_key = naming.output_key(key, version), naming.errors_key(key, version)
    tally = [_counts({})]
    with ExitStack() as stack:
        merged = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_LIMIT))
        merge(
            _processed_parts(region, version, names, tally),
            cast(BinaryIO, merged),
            header=_output_header(region, key) if not names else b"",
        )
        errors = stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL_LIMIT))
        errors.write(ERRORS_HEADER)
        for name in names:
            errors.write(region.store.get_bytes(naming.errors_part_key(version, name)))
        check_fence(region, epoch)
        with ThreadPoolExecutor(1, thread_name_prefix="mrbatch-merge-put") as pool:
            report = pool.submit(_put_stream, region, errors_key, errors)
            _put_stream(region, output_key, merged)
            report.result()
    counts = tally[0]
    records.record_merge(
        region.batch_state, event["fileId"], epoch, output=output_key, counts=counts
    )
    return {"output": output_key, "errors": errors_key, "counts": counts}


def _processed_parts(
    region: Region, version: str, names: list[str], tally: list[payloads.ChunkCounts]
) -> Iterator[BinaryIO]:
    """Each processed chunk in order, opened only while the merge reads it; adds its
    counts (from its metadata) to `tally[0]`."""
    for name in names:
        info, body = region.store.get(naming.processed_key(version, name))
        tally[0] = _add_counts(tally[0], _counts(info.metadata))
        with _seekable(body) as part:
            yield part


def _output_header(region: Region, key: str) -> bytes:
    _info, body = region.store.get(key)
    with body:
        return output_header(read_header(body, file=key).columns)


def _put_stream(region: Region, key: str, stream: IO[bytes]) -> None:
    stream.seek(0)
    region.store.put(key, stream)  # type: ignore[arg-type]


# --- Email the file ----------------------------------------------------------------------


def email_the_file(event: MergedFile) -> payloads.EmailResult:
    """Email a presigned link to the output (once per file version), then mark the file
    COMPLETED. Returns `{"sent": bool, "url": str}`."""
    region = current_region()
    epoch, key = int(event["epoch"]), event["key"]
    region.breakpoints.hold("email_the_file", region=region.name, key=key)
    merged = event["merge"]
    url, expires_in = region.presign(merged["output"])
    message = OutgoingEmail(
        sender=region.sender,
        recipients=region.recipients,
        subject=f"mrbatch: {naming.relative_name(key)} is processed",
        body=_email_body(key, str(event["versionId"]), merged, url, expires_in),
    )
    check_fence(region, epoch)
    sent = region.notifier.send(message, idempotency_key=event["fileId"])
    check_fence(region, epoch)
    records.mark_completed(region.batch_state, event["fileId"], epoch, region=region.name)
    region.metrics.count("ProcessedFiles", region=region.name)
    if sent:  # a retry after a crash finds the ledger entry and sends nothing
        region.metrics.count("EmailSent", region=region.name)
    return {"sent": sent, "url": url}


def _email_body(
    key: str, version: str, merged: payloads.MergeResult, url: str, expires_in: int
) -> str:
    counts = merged["counts"]
    return (
        f"The file {key} (version {version}) has been processed.\n\n"
        f"Download the result (link valid for {expires_in} seconds):\n{url}\n\n"
        f"Rows processed: {counts['rowsRead']}\n"
        f"Rows written: {counts['rowsWritten']}\n"
        f"Rows invalid: {counts['rowsInvalid']}\n"
        f"Rows not enriched: {counts['rowsNotEnriched']}\n"
        f"Errors report: {merged['errors']}\n"
    )


# --- Record the failed file --------------------------------------------------------------


def record_failed_file(event: FailedFile) -> dict[str, str]:
    """Mark the file FAILED with the error and cause that stopped it."""
    region = current_region()
    epoch = int(event["epoch"])
    check_fence(region, epoch)
    failure = event.get("failure")
    # a Catch stores both fields, but a hand-written input may lack one: absent is ""
    error = str(failure.get("Error") or "") if failure else ""
    cause = str(failure.get("Cause") or "") if failure else ""
    records.mark_failed(region.batch_state, event["fileId"], epoch, error=error, cause=cause)
    region.metrics.count("FailedFiles", region=region.name)
    return {"status": "FAILED", "error": error}


# --- Every terminal status recorded (EventBridge: Step Functions execution status change) --

LOST_ACTIVATION = "mrbatch.RegionNotActive"
"""The error of a run stopped by its own region's fence: the new active region re-drives
the file, so it is not a failure of the file."""


def record_execution_end(region: Region, end: payloads.ExecutionEnd) -> bool:
    """Whatever ended a main orchestrator execution other than success (an error outside a
    Catch, States.Runtime, a data or history limit, a timeout, an abort), the file ends
    FAILED with the error and cause, and the owner gets one email saying why. Returns True
    when the file was marked FAILED by this call's epoch.

    Idempotent, so it may run more than once for one execution and after "Record the failed
    file" did its part: the fenced write stores the same fields, the email is sent once per
    file version (its idempotency key). Not for a success, a fencing abort, a file already
    COMPLETED, or a run whose epoch is no longer current (the new active region re-drives
    the file)."""
    if end["status"] in ("SUCCEEDED", "RUNNING") or end["error"] == LOST_ACTIVATION:
        return False
    run = json.loads(end["input"])
    if not isinstance(run, dict) or "fileId" not in run or "epoch" not in run:
        return False
    file_id, epoch = str(run["fileId"]), int(run["epoch"])
    if not holds(region, epoch):
        # the run lost its epoch (its failure may be the fence itself): the region active
        # now takes the file over and re-drives it, so it must not be marked FAILED here,
        # even before that region has claimed it
        return False
    current = region.batch_state.get({"file_id": file_id})
    if current is None or current.get("status") == FileStatus.COMPLETED.value:
        return False
    error = end["error"] or f"States.{end['status'].title().replace('_', '')}"
    cause = end["cause"] or f"the execution {end['name']} ended {end['status']}"
    try:
        records.mark_failed(region.batch_state, file_id, epoch, error=error, cause=cause)
    except ConditionFailedError:
        return False  # a newer epoch owns the file: its region reports on it
    key = str(run.get("key", file_id))
    message = OutgoingEmail(
        sender=region.sender,
        recipients=region.recipients,
        subject=f"mrbatch: {naming.relative_name(key)} failed",
        body=f"The file {key} (version {run.get('versionId', '')}) could not be processed.\n\n"
        f"Error: {error}\nCause: {cause}\nExecution: {end['executionArn']}\n",
    )
    region.notifier.send(message, idempotency_key=f"{file_id}#failed")
    return True
