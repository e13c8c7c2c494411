"""Takeover: every new epoch is followed by the active region's reconciliation, once.

A new epoch fences every run started under an older one (their side effects are refused,
the old region's fence loop aborts them). Something must then re-drive those files, or they
stay RUNNING forever. The runbook used to be that something, but any change of the routing
control can move the epoch: the runbook, the control API (`POST /control/active`), an
operator's script. So the invariant lives here, in one place, enforced by the region that
is active rather than by each caller:

- `TakeoverLog` records, per epoch, that the region active under it has reconciled (SQLite,
  `<data_dir>/takeovers.db`, shared by every process of the stack);
- `take_over` reconciles for an epoch and records it; the runbook calls it right after its
  wait for replication, so an operator sees the result;
- `TakeoverWatch`, ticked by the region's loop, calls `take_over` when its region is active
  under an epoch nobody reconciled yet: at once when nothing of the unfinished files is
  still replicating from the peer, else when that drains or the replication SLA has passed
  since the flip (waiting lets the re-drive reuse chunk outputs already made; not waiting
  forever keeps a dead replicator from stranding work).

Reconciling twice is harmless (the trigger's claim and the per-epoch execution name make a
re-drive idempotent), so a race between the runbook and the watch costs nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.metrics import SqliteMetrics
from mrbatch.runtime.reconcile import ReconcileResult, reconcile
from mrbatch.runtime.replication_backlog import pending_replication
from mrbatch.runtime.wiring import open_region_store, open_routing, open_tables
from mrbatch.state.db import SqliteDatabase

__all__ = ["TakeoverLog", "TakeoverWatch", "take_over"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS takeovers (
    epoch INTEGER PRIMARY KEY, region TEXT NOT NULL, at REAL NOT NULL, result TEXT NOT NULL
)
"""


class TakeoverLog:
    """Which epochs have been reconciled, by which region, with what result."""

    def __init__(self, config: StackConfig) -> None:
        self._db = SqliteDatabase(config.data_dir / "takeovers.db")
        with self._db.transaction() as conn:
            conn.execute(_SCHEMA)

    def done(self, epoch: int) -> bool:
        """Whether reconciliation has run for `epoch`."""
        with self._db.reading() as conn:
            row = conn.execute("SELECT 1 FROM takeovers WHERE epoch = ?", (epoch,)).fetchone()
        return row is not None

    def record(self, epoch: int, region: str, result: ReconcileResult) -> None:
        """Record (or re-record: the latest pass wins) the reconciliation of `epoch`."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO takeovers VALUES (?, ?, ?, ?)",
                (epoch, region, time.time(), json.dumps(asdict(result))),
            )

    def entries(self) -> list[dict[str, Any]]:
        """Every recorded takeover, oldest epoch first."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT epoch, region, at, result FROM takeovers ORDER BY epoch")
            return [
                {"epoch": e, "region": r, "at": at, "result": json.loads(result)}
                for e, r, at, result in rows.fetchall()
            ]

    def close(self) -> None:
        self._db.close()


def take_over(config: StackConfig, region: str, epoch: int) -> ReconcileResult:
    """Reconcile every unfinished file into `region` (active under `epoch`) and record it."""
    tables = [open_tables(config, name) for name in config.regions]
    metrics = SqliteMetrics(config.data_dir / "metrics.db")
    takeovers = TakeoverLog(config)
    try:
        result = reconcile(
            region=region,
            store=open_region_store(config, region),
            tables=[t.batch_state for t in tables],
            metrics=metrics,
            suffixes=config.input_suffixes,
        )
        takeovers.record(epoch, region, result)
    finally:
        takeovers.close()
        for t in tables:
            t.close()
    return result


class TakeoverWatch:
    """Run by one region's loop: take over every epoch this region is active under."""

    def __init__(
        self,
        config: StackConfig,
        region: str,
        *,
        clock: Callable[[], float] = time.time,
        check_every: float = 0.5,
    ) -> None:
        self.config = config
        self.region = config.check_region(region)
        self._routing = open_routing(config)
        self._log = TakeoverLog(config)
        self._clock = clock
        self._check_every = check_every
        self._next_check = 0.0
        self._done_epoch: int | None = None

    def tick(self) -> ReconcileResult | None:
        """Reconcile if this region is active under an epoch not reconciled yet and the
        wait for replication is over; returns what reconciliation did, else None."""
        now = self._clock()
        if now < self._next_check:
            return None
        self._next_check = now + self._check_every
        state = self._routing.state()
        if state.active_region != self.region or self._done_epoch == state.epoch:
            return None
        if self._log.done(state.epoch):
            self._done_epoch = state.epoch
            return None
        peer = self.config.peer_of(self.region)
        waited = now - state.changed_at
        if waited < self.config.replication_sla_seconds and pending_replication(
            self.config, peer, self.region
        ):
            return None  # the unfinished files' objects are still on their way
        result = take_over(self.config, self.region, state.epoch)
        self._done_epoch = state.epoch
        log.info(
            "took over epoch %d: %d re-driven, %d missing",
            state.epoch,
            len(result.redriven),
            len(result.missing),
        )
        return result

    def close(self) -> None:
        self._log.close()
        self._routing.close()
