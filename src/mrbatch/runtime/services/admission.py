"""A region's admission queue: at most `limit` files run at once, the rest wait in order.

Without it the engine starts every accepted file's run at once, the region's worker
processes share their chunks fairly among all of them, and no file finishes before the
last one does (100 files: every latency ≈ the whole run). With a bound, files finish in
arrival order and the first ones are emailed early, for the same throughput as long as the
bound keeps the workers busy (docs/performance.md, "Many files").

The queue is the region's change feed itself, read by two cursors, so it is as durable as
the events and needs no store of its own:

- **accept** (cursor `trigger`) claims every new input version at once (`accept_file`:
  INITIALIZED in the batch state table, under the current epoch), so a queued file is
  already accepted: `mrbatch status` shows it and reconciliation re-drives it after a
  failover, as any unfinished file;
- **admit** (cursor `admission`, never ahead of `trigger`) starts the queued files in
  feed order through `drive_file` while fewer than `limit` main orchestrator executions
  run, and stops at the first one it cannot start yet.

Crash safety: a cursor moves only past events that were handled, and handling is
idempotent (the claim at the same epoch returns the record as it is; the execution name
is the file version and the epoch), so a SIGKILL anywhere replays at most a few claims and
starts nothing twice. A queued file waits in the feed until this region admits it, or, if
the region lost activation meanwhile, is skipped here and re-driven by the region active
under the new epoch (its INITIALIZED record is unfinished).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mrbatch.handlers import naming
from mrbatch.handlers.trigger import DriveOutcome, StartExecution, accept_file, drive_file
from mrbatch.model import FileStatus
from mrbatch.ports import RoutingControl, Table
from mrbatch.runtime.replication.changefeed import Change, ChangeFeed

__all__ = ["ACCEPT_CONSUMER", "ADMIT_CONSUMER", "AdmissionQueue"]

ACCEPT_CONSUMER = "trigger"  # the trigger's cursor before admission existed: kept
ADMIT_CONSUMER = "admission"


@dataclass
class AdmissionQueue:
    """Accept every new input of one region's feed; start them in order, `limit` at once.

    `running()` counts this region's main orchestrator executions still RUNNING (the
    engine's word, so runs resumed after a restart count too)."""

    region: str
    feed: ChangeFeed
    batch_state: Table
    routing: RoutingControl
    start: StartExecution
    running: Callable[[], int]
    limit: int
    suffixes: tuple[str, ...] = naming.DEFAULT_INPUT_SUFFIXES

    def __post_init__(self) -> None:
        # a feed with history from before admission existed: its trigger already started
        # every file it read, so admission starts where the trigger is, not at the start
        self.feed.start_cursor(ADMIT_CONSUMER, self.feed.cursor(ACCEPT_CONSUMER))

    def accept(self) -> int:
        """Claim every new input version; returns how many events were read. The cursor
        moves once per batch, after every input in it was claimed."""
        changes = self.feed.read(ACCEPT_CONSUMER)
        for change in changes:
            accept_file(
                region=self.region,
                key=change.key,
                version_id=change.version_id,
                batch_state=self.batch_state,
                routing=self.routing,
                event=_event(change),
                suffixes=self.suffixes,
            )
        if changes:
            self.feed.ack(ACCEPT_CONSUMER, changes[-1].seq)
        return len(changes)

    def admit(self) -> int:
        """Start queued files in feed order while fewer than `limit` run; returns how many
        runs were started. Events the trigger has not accepted yet are left for later."""
        accepted = self.feed.cursor(ACCEPT_CONSUMER)
        free: int | None = None  # counted only when a file waits: most ticks have none
        started, handled = 0, None
        for change in self.feed.read(ADMIT_CONSUMER):
            if change.seq > accepted:
                break
            if self._queued(change):
                free = self.limit - self.running() if free is None else free
                if free <= 0 and self._active():
                    break  # the head of the queue waits for a run to end
                if self._drive(change).action == "started":
                    started, free = started + 1, free - 1
            handled = change.seq
        if handled is not None:
            self.feed.ack(ADMIT_CONSUMER, handled)
        return started

    def _queued(self, change: Change) -> bool:
        """Whether the event is an unfinished input version this region has a record of.
        Without one, `accept` skipped it (standby then): the decision stays the one taken on
        arrival, not one taken later under another epoch (the region active then, or its
        reconciliation, drives the file)."""
        if not naming.is_input(change.key, self.suffixes):
            return False
        item = self.batch_state.get({"file_id": naming.file_id(change.key, change.version_id)})
        return item is not None and not FileStatus(item["status"]).finished

    def _drive(self, change: Change) -> DriveOutcome:
        return drive_file(
            region=self.region,
            key=change.key,
            version_id=change.version_id,
            batch_state=self.batch_state,
            routing=self.routing,
            start=self.start,
            event=_event(change),
            suffixes=self.suffixes,
        )

    def _active(self) -> bool:
        return self.routing.state().active_region == self.region


def _event(change: Change) -> dict[str, object]:
    """The object-created event recorded on the file's claim."""
    return {
        "key": change.key,
        "versionId": change.version_id,
        "etag": change.etag,
        "replica": change.replica,
        "eventTime": change.created_at,
    }
