"""The shapes of the JSON that travels through the workflows, declared once.

Step Functions passes plain JSON between states; these TypedDicts say what each handler
receives and returns, as the ASL definitions in `workflows/definitions/` build it (each
step adds its result under its own ResultPath: `split`, `merge`, `email`, `failure`).
Identities travel as fields (`versionId`, `index`), never re-parsed out of a string.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "ChunkCounts",
    "ChunkRef",
    "ChunkResult",
    "ChunkTask",
    "ChunkWrite",
    "EmailResult",
    "ExecutionEnd",
    "FailedFile",
    "Failure",
    "FileRun",
    "MergeResult",
    "MergedFile",
    "ReadRecords",
    "SplitFile",
    "SplitResult",
]


class FileRun(TypedDict):
    """The trigger's input to the main orchestrator: one file version under one epoch."""

    fileId: str
    key: str
    versionId: str
    epoch: int
    region: str


class ChunkRef(TypedDict):
    """One chunk object of a split: `firstRow` is the file row of its first record, `index`
    its 0-based position. The split writes one per line into the manifest object."""

    name: str
    key: str
    firstRow: int
    index: int


class SplitResult(TypedDict):
    """What `split_input_file` returns (under `$.split`). The chunk list is not here but in
    the manifest object (`bucket`, `manifest`: JSON Lines of `ChunkRef`), so a file of any
    chunk count fits the 256 KiB state payload; the chunk Map reads it with an ItemReader."""

    bucket: str
    manifest: str
    chunks: int
    rows: int


class SplitFile(FileRun):
    """The orchestrator's state after the split."""

    split: SplitResult


class ChunkTask(TypedDict):
    """One chunk of a batch of the chunk Map (the inner Map's ItemSelector): the chunk
    processor's input. `index` is the chunk's 0-based position in the file."""

    fileId: str
    key: str
    versionId: str
    epoch: int
    chunk: ChunkRef
    index: int


class ReadRecords(TypedDict):
    """What the per-record processor's "Read File" returns (under `$.read`); after the
    record Map, `records` holds each record's verdict."""

    header: str
    records: list[dict[str, Any]]


class ChunkWrite(ChunkTask):
    """The per-record processor's "Write output file" input."""

    read: ReadRecords


class ChunkCounts(TypedDict):
    """Row counts of a chunk or of a whole file."""

    rowsRead: int
    rowsWritten: int
    rowsInvalid: int
    rowsNotEnriched: int


class ChunkResult(ChunkCounts):
    """What a chunk processor returns; `reused` when the output already existed."""

    name: str
    reused: bool


class MergeResult(TypedDict):
    """What `merge_all_files` returns (under `$.merge`)."""

    output: str
    errors: str
    counts: ChunkCounts


class MergedFile(SplitFile):
    """The orchestrator's state after the merge: the email step's input."""

    merge: MergeResult


class EmailResult(TypedDict):
    """What `email_the_file` returns (under `$.email`)."""

    sent: bool
    url: str


class Failure(TypedDict):
    """A caught error, as a Catch's ResultPath stores it."""

    Error: str
    Cause: str


class FailedFile(FileRun, total=False):
    """The input of "Record the failed file": the run's state and what stopped it."""

    failure: Failure


class ExecutionEnd(TypedDict):
    """An execution that ended, as EventBridge's "Step Functions Execution Status Change"
    event carries it in `detail` (`input` is the execution input as JSON text; `error` and
    `cause` are null for SUCCEEDED and may be null for ABORTED)."""

    executionArn: str
    stateMachineArn: str
    name: str
    status: str
    input: str
    error: str | None
    cause: str | None
