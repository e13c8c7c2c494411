"""The trigger: what a region does with an object-created event under `input/`.

Only the active region works: the standby logs "skipped (standby)" and stops. The active
region records the file version in the batch state table and starts the main orchestrator
under an execution name derived from the file version and the epoch, so that:

- a duplicate event (both regions see every object; S3 may deliver twice) starts nothing
  new: the engine returns the existing execution for the same name and input;
- a file that an earlier epoch left unfinished (the region that had it lost activation) is
  taken over under the current epoch, which fences the old work out.

Reconciliation after a failover drives files through the same `drive_file`.

A region that bounds its files in flight (`mrbatch.runtime.services.region`) splits the two
halves: `accept_file` records the version as soon as its event arrives (the file is then
accepted and queued: INITIALIZED, visible to reconciliation), and `drive_file` claims it
again (a no-op at the same epoch) and starts the run when the queue reaches it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mrbatch.handlers import batch_state as batch_state_records
from mrbatch.handlers import naming
from mrbatch.ports import RoutingControl, Table

__all__ = ["DriveOutcome", "StartExecution", "accept_file", "drive_file"]

log = logging.getLogger(__name__)

StartExecution = Callable[[str, dict[str, Any]], str]
"""(execution name, input) -> execution ARN; idempotent for the same name and input."""


@dataclass(frozen=True)
class DriveOutcome:
    """What `drive_file` (or `accept_file`) did: "started" ("accepted"), "skipped (standby)",
    "already finished", "ignored"."""

    action: str
    file_id: str
    execution_arn: str | None = None


def accept_file(
    *,
    region: str,
    key: str,
    version_id: str,
    batch_state: Table,
    routing: RoutingControl,
    event: dict[str, Any] | None = None,
    suffixes: tuple[str, ...] = naming.DEFAULT_INPUT_SUFFIXES,
) -> DriveOutcome:
    """Record the file version (INITIALIZED, by the same claim as `drive_file`) without
    starting its run: "accepted", or why not. Idempotent like the claim."""
    claimed = _claim(region, key, version_id, batch_state, routing, event, suffixes)
    if isinstance(claimed, DriveOutcome):
        return claimed
    return DriveOutcome("accepted", naming.file_id(key, version_id))


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
    claimed = _claim(region, key, version_id, batch_state, routing, event, suffixes)
    if isinstance(claimed, DriveOutcome):
        return claimed
    fid, epoch = naming.file_id(key, version_id), claimed
    payload = {
        "fileId": fid,
        "key": key,
        "versionId": version_id,
        "epoch": epoch,
        "region": region,
    }
    arn = start(naming.execution_name(key, version_id, epoch), payload)
    log.info(
        "%s: started %s under epoch %d", key, arn, epoch,
        extra={"file_id": fid, "execution": arn, "epoch": epoch},
    )  # fmt: skip
    return DriveOutcome("started", fid, arn)


def _claim(
    region: str,
    key: str,
    version_id: str,
    batch_state: Table,
    routing: RoutingControl,
    event: dict[str, Any] | None,
    suffixes: tuple[str, ...],
) -> DriveOutcome | int:
    """The epoch under which `region` now owns the unfinished file version, or the outcome
    that says why it does not (not an input, standby, already finished)."""
    fid = naming.file_id(key, version_id)
    if not naming.is_input(key, suffixes):
        if key.startswith(naming.INPUT_PREFIX):
            log.info("%s: ignored: only keys ending in %s are processed", key, suffixes)
        return DriveOutcome("ignored", fid)
    state = routing.state()
    if state.active_region != region:
        log.info(
            "%s: skipped (standby): %s is active", key, state.active_region,
            extra={"file_id": fid, "epoch": state.epoch},
        )  # fmt: skip
        return DriveOutcome("skipped (standby)", fid)
    record = batch_state_records.claim(
        batch_state, key=key, version_id=version_id, region=region, epoch=state.epoch,
        event=event,
    )  # fmt: skip
    if record is None:
        return DriveOutcome("already finished", fid)
    return state.epoch
