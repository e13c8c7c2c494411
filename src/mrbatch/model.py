"""Domain records shared by the pipeline, the handlers and the state tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ERROR_COLUMNS",
    "BatchFile",
    "ErrorRecord",
    "FileStatus",
    "FinancialRecord",
]

# Records per chunk unless configured (the AWS sample used 600; 1000 stays well inside
# Step Functions' payload limit for the per-record processor).
DEFAULT_CHUNK_SIZE = 1000

# Columns of the errors CSV, in order (see ErrorRecord).
ERROR_COLUMNS = ("file", "row", "field", "rule", "message", "raw_row")


@dataclass(frozen=True)
class ErrorRecord:
    """Why one row of an input file was not written to the output.

    `row` is the record number in the original file, the header being row 1; `field` is the
    column at fault ("" when the record as a whole is wrong); `rule` names the check
    (a JSON Schema keyword, or `fieldCount`, `encoding`, `csv`, `maxFieldBytes`,
    `enrichment`); `raw_row` is the record as it appeared, without its line end (bytes that
    are not UTF-8 are shown as `\\xNN`).
    """

    file: str
    row: int
    field: str
    rule: str
    message: str
    raw_row: str

    def as_row(self) -> tuple[str, str, str, str, str, str]:
        """The record as the six fields of an errors CSV row."""
        return (self.file, str(self.row), self.field, self.rule, self.message, self.raw_row)


@dataclass(frozen=True)
class FinancialRecord:
    """The financial data of one order, every value exactly as the source wrote it."""

    units_sold: str
    unit_price: str
    unit_cost: str
    total_revenue: str
    total_cost: str
    total_profit: str


class FileStatus(StrEnum):
    """Where a file version stands in the batch state table. INITIALIZED and RUNNING are
    unfinished (reconciliation re-drives them); COMPLETED and FAILED are final."""

    INITIALIZED = "INITIALIZED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        """Whether no run will ever change this file version again."""
        return self in (FileStatus.COMPLETED, FileStatus.FAILED)


@dataclass(frozen=True)
class BatchFile:
    """One file version's record in the batch state table (one item per version; the table
    stores it as a plain dict, see `to_item`/`from_item`).

    `epoch` is the routing epoch of the run that owns the file now: a write from an older
    epoch is refused (fencing). `output`, `counts`, `completed_*`, `error` and `cause` are
    filled in as the run goes.
    """

    file_id: str
    key: str
    version_id: str
    status: FileStatus
    region: str
    epoch: int
    created_at: float
    updated_at: float
    event: Mapping[str, Any] = field(default_factory=dict)
    chunks_total: int | None = None
    output: str | None = None
    counts: Mapping[str, int] | None = None
    completed_region: str | None = None
    completed_at: float | None = None
    error: str | None = None
    cause: str | None = None

    def to_item(self) -> dict[str, Any]:
        """The table item: every attribute that is set, the status as its string."""
        item: dict[str, Any] = {
            "file_id": self.file_id,
            "key": self.key,
            "version_id": self.version_id,
            "status": self.status.value,
            "region": self.region,
            "epoch": self.epoch,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "event": dict(self.event),
        }
        optional = {
            "chunks_total": self.chunks_total,
            "output": self.output,
            "counts": dict(self.counts) if self.counts is not None else None,
            "completed_region": self.completed_region,
            "completed_at": self.completed_at,
            "error": self.error,
            "cause": self.cause,
        }
        item.update({name: value for name, value in optional.items() if value is not None})
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BatchFile:
        """The record of a table item (attributes it does not know are ignored)."""
        return cls(
            file_id=str(item["file_id"]),
            key=str(item.get("key", "")),
            version_id=str(item.get("version_id", "")),
            status=FileStatus(item["status"]),
            region=str(item.get("region", "")),
            epoch=int(item.get("epoch", 0)),
            created_at=float(item.get("created_at", 0.0)),
            updated_at=float(item.get("updated_at", 0.0)),
            event=dict(item.get("event") or {}),
            chunks_total=_optional(int, item.get("chunks_total")),
            output=_optional(str, item.get("output")),
            counts={str(k): int(v) for k, v in item["counts"].items()}
            if item.get("counts") is not None
            else None,
            completed_region=_optional(str, item.get("completed_region")),
            completed_at=_optional(float, item.get("completed_at")),
            error=_optional(str, item.get("error")),
            cause=_optional(str, item.get("cause")),
        )


def _optional(kind: type[Any], value: Any) -> Any:
    return None if value is None else kind(value)
