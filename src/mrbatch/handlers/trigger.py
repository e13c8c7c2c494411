"""The trigger: what a region does with an object-created event under `input/`.

Only the active region works: the standby logs "skipped (standby)" and stops. The active
region records the file version in the batch state table and starts the main orchestrator
under an execution name derived from the file version and the epoch, so that:

- a duplicate event (both regions see every object; S3 may deliver twice) starts nothing
  new: the engine returns the existing execution for the same name and input;
- a file that an earlier epoch left unfinished (the region that had it lost activation) is
  taken over under the current epoch, which fences the old work out.

Reconciliation after a failover drives files through the same `drive_file`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mrbatch.errors import ConditionFailedError
from mrbatch.handlers import naming
from mrbatch.ports import Condition, RoutingControl, Table

__all__ = ["DriveOutcome", "FileStatus", "StartExecution", "drive_file"]

log = logging.getLogger(__name__)

StartExecution = Callable[[str, dict[str, Any]], str]
"""(execution name, input) -> execution ARN; idempotent for the same name and input."""


class FileStatus(StrEnum):
    """Status of a file version in the batch state table."""

    INITIALIZED = "INITIALIZED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


FINISHED = (FileStatus.COMPLETED.value, FileStatus.FAILED.value)


@dataclass(frozen=True)
class DriveOutcome:
    """What `drive_file` did: "started", "skipped (standby)", "already finished", "ignored"."""

    action: str
    file_id: str
    execution_arn: str | None = None


def drive_file(
    *,
    region: str,
    key: str,
    version_id: str,
    batch_state: Table,
    routing: RoutingControl,
    start: StartExecution,
    event: dict[str, Any] | None = None,
    suffixes: tuple[str, ...] = naming.DEFAULT_INPUT_SUFFIXES,
) -> DriveOutcome:
    """Record the file version and start (or find) its orchestrator execution. Objects that
    are not inputs (outside `input/`, or without one of `suffixes`) are ignored."""
    fid = naming.file_id(key, version_id)
    if not naming.is_input(key, suffixes):
        if key.startswith(naming.INPUT_PREFIX):
            log.info("%s: ignored: only keys ending in %s are processed", key, suffixes)
        return DriveOutcome("ignored", fid)
    state = routing.state()
    if state.active_region != region:
        log.info("%s: skipped (standby): %s is active", key, state.active_region)
        return DriveOutcome("skipped (standby)", fid)
    item = _claim(batch_state, fid, key, version_id, region, state.epoch, event)
    if item is None:
        return DriveOutcome("already finished", fid)
    payload = {
        "fileId": fid,
        "key": key,
        "versionId": version_id,
        "epoch": state.epoch,
        "region": region,
    }
    arn = start(naming.execution_name(key, version_id, state.epoch), payload)
    log.info("%s: started %s under epoch %d", key, arn, state.epoch)
    return DriveOutcome("started", fid, arn)


def _claim(
    table: Table,
    fid: str,
    key: str,
    version_id: str,
    region: str,
    epoch: int,
    event: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Make the batch-state item say this region works on the file under `epoch`; None when
    the file is already finished. Conditional writes only: no read-then-write race."""
    now = time.time()
    item = {
        "file_id": fid,
        "key": key,
        "version_id": version_id,
        "status": FileStatus.INITIALIZED.value,
        "region": region,
        "epoch": epoch,
        "created_at": now,
        "updated_at": now,
        "event": event or {},
    }
    try:
        table.put(item, condition=Condition(absent=("file_id",)))
        return item
    except ConditionFailedError:
        pass
    existing = table.get({"file_id": fid}) or {}
    if existing.get("status") in FINISHED:
        return None
    if int(existing.get("epoch", 0)) >= epoch:
        return existing  # same epoch: a duplicate event; the start below is idempotent
    try:
        return table.update(
            {"file_id": fid},
            {"status": FileStatus.INITIALIZED.value, "region": region, "epoch": epoch,
             "updated_at": now},
            condition=Condition(equals={"epoch": existing.get("epoch")}),
        )  # fmt: skip
    except ConditionFailedError:
        return _claim(table, fid, key, version_id, region, epoch, event)
