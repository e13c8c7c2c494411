"""Object replication between the two regions' buckets, like S3 Cross-Region Replication.

One `ObjectReplicator` per direction reads its source bucket's change feed and copies every
object version that was written in the source (never a replica: replicas are not replicated
back) to the destination, marked `REPLICA` and keeping the source's version id. Deletes are
not replicated. A configurable delay holds objects back, for drills.

Restart safety: the cursor moves only after the destination holds the version, and a copy
of a version the destination already has (same version id) is skipped, so a replicator
killed at any point neither loses nor duplicates an object version.

Metrics follow S3 Replication Time Control: operations pending, bytes pending, replication
latency, and the number of objects replicated later than the SLA.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mrbatch.errors import ObjectNotFoundError
from mrbatch.ports import REPLICA, ObjectStore
from mrbatch.runtime.replication.changefeed import Change, ChangeFeed

__all__ = ["ObjectReplicator", "ReplicationStatus"]


@dataclass(frozen=True)
class ReplicationStatus:
    """Replication metrics of one direction, as S3 RTC reports them."""

    source: str
    destination: str
    operations_pending: int
    bytes_pending: int
    oldest_pending_age_seconds: float
    replicated: int
    late: int
    worst_latency_seconds: float
    sla_seconds: float


class ObjectReplicator:
    """Replicates `source_store` (region `source`) into `dest_store` (region `destination`).

    `dest_store` should be the destination's recorded store, so that replicas raise object
    events there as they do on S3.
    """

    def __init__(
        self,
        *,
        source: str,
        destination: str,
        source_store: ObjectStore,
        source_feed: ChangeFeed,
        dest_store: ObjectStore,
        delay_seconds: float | Callable[[], float] = 0.0,
        sla_seconds: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.destination = destination
        self._source_store = source_store
        self._feed = source_feed
        self._dest = dest_store
        # a callable is asked every round: chaos experiments change the delay at run time
        self._delay = delay_seconds if callable(delay_seconds) else lambda: delay_seconds
        self._sla = sla_seconds
        self._clock = clock
        self.consumer = f"replicate-to-{destination}"

    def run_once(self, *, limit: int = 100) -> int:
        """Replicate the changes that are due; returns how many objects were copied."""
        self._feed.settle(self._source_store)
        copied = 0
        delay = self._delay()
        for change in self._feed.read(self.consumer, limit=limit):
            if change.created_at + delay > self._clock():
                break  # the feed is ordered: nothing after this one is due either
            if not change.replica and self._replicate(change):
                copied += 1
                self._feed.record_delivery(self.consumer, change)
            self._feed.ack(self.consumer, change.seq)
        return copied

    def _replicate(self, change: Change) -> bool:
        """Copy the change's version unless it is gone or the destination already has it."""
        try:
            info, body = self._source_store.get(change.key)
        except ObjectNotFoundError:
            return False  # deleted since: deletes are not replicated, nothing to copy
        with body:
            if info.version_id != change.version_id:
                return False  # overwritten since: a later change carries the newer version
            if self._destination_has(change):
                return False
            self._dest.put(
                change.key,
                body,
                metadata=dict(info.metadata),
                headers=dict(info.headers),
                replication_status=REPLICA,
                version_id=info.version_id,
            )
        return True

    def _destination_has(self, change: Change) -> bool:
        """Whether the destination already holds this very version. The version id is the
        identity, not the content: an identical re-upload is a new version with its own
        batch-state item, and skipping it because the bytes match would leave that version
        missing in the other region at failover."""
        try:
            existing = self._dest.head(change.key)
        except ObjectNotFoundError:
            return False
        return existing.version_id == change.version_id

    def status(self) -> ReplicationStatus:
        """The current metrics of this direction."""
        ops, size, oldest = self._feed.backlog(self.consumer, include_replicas=False)
        done, late, worst = self._feed.latency_stats(self.consumer, sla_seconds=self._sla)
        age = max(0.0, self._clock() - oldest) if oldest is not None else 0.0
        return ReplicationStatus(
            source=self.source,
            destination=self.destination,
            operations_pending=ops,
            bytes_pending=size,
            oldest_pending_age_seconds=age,
            replicated=done,
            late=late,
            worst_latency_seconds=worst,
            sla_seconds=self._sla,
        )
