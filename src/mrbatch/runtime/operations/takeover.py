"""Takeover: every new epoch is followed by the active region's reconciliation, once.

A new epoch fences every run started under an older one (their side effects are refused,
the old region's fence loop aborts them). Something must then re-drive those files, or they
stay RUNNING forever. The runbook used to be that something, but any change of the routing
control can move the epoch: the runbook, the control API (`POST /control/active`), an
operator's script. So the invariant lives here, in one place, enforced by the region that
is active rather than by each caller:

- `TakeoverLog` records, per epoch, that the region active under it has reconciled (SQLite,
  `<data_dir>/takeovers.db`, shared by every process of the stack), with a claim so that
  one caller reconciles an epoch and the others read its result;
- `take_over` reconciles for an epoch and records it; the runbook calls it right after its
  wait for replication, so an operator sees the result;
- `TakeoverWatch`, ticked by the region's loop, calls `take_over` when its region is active
  under an epoch nobody reconciled yet: at once when nothing of the unfinished files is
  still replicating from the peer, else when that drains or the replication SLA has passed
  since the flip (waiting lets the re-drive reuse chunk outputs already made; not waiting
  forever keeps a dead replicator from stranding work).

Reconciling twice would be harmless (the trigger's claim and the per-epoch execution name
make a re-drive idempotent); the claim only keeps what the runbook reports the same as what
was done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from mrbatch.metrics.local import SqliteMetrics
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.reconcile import ReconcileResult, reconcile, redrive_stale
from mrbatch.runtime.replication.backlog import pending_replication
from mrbatch.runtime.wiring import open_region_store, open_routing, open_tables
from mrbatch.state.db import SqliteDatabase

__all__ = ["TakeoverLog", "TakeoverWatch", "take_over"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS takeovers (
    epoch INTEGER PRIMARY KEY, region TEXT NOT NULL, at REAL NOT NULL, result TEXT
)
"""
STALE_CLAIM_SECONDS = 60.0
"""A claim this old (or older) whose result never came (its process died) may be taken again."""


class TakeoverLog:
    """Which epochs have been reconciled, by which region, with what result. A claim row
    (no result yet) makes one caller reconcile an epoch while the others wait for its
    result, so the runbook and the region's watch report the same reconciliation."""

    def __init__(self, config: StackConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._db = SqliteDatabase(config.takeovers_db)
        self._clock = clock
        with self._db.transaction() as conn:
            conn.execute(_SCHEMA)

    def claim(self, epoch: int, region: str) -> bool:
        """Whether the caller should reconcile `epoch` now: nobody claimed it, or the claim
        is stale (STALE_CLAIM_SECONDS old or more, without a result)."""
        now = self._clock()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT at, result FROM takeovers WHERE epoch = ?", (epoch,)
            ).fetchone()
            if row is not None and (row[1] is not None or row[0] > now - STALE_CLAIM_SECONDS):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO takeovers VALUES (?, ?, ?, NULL)", (epoch, region, now)
            )
        return True

    def record(self, epoch: int, region: str, result: ReconcileResult) -> None:
        """Record the reconciliation of `epoch` (the latest pass wins)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO takeovers VALUES (?, ?, ?, ?)",
                (epoch, region, self._clock(), json.dumps(asdict(result))),
            )

    def result(self, epoch: int) -> ReconcileResult | None:
        """What the reconciliation of `epoch` did; None while nobody has finished it."""
        with self._db.reading() as conn:
            row = conn.execute("SELECT result FROM takeovers WHERE epoch = ?", (epoch,)).fetchone()
        if row is None or row[0] is None:
            return None
        return ReconcileResult(**json.loads(row[0]))

    def close(self) -> None:
        self._db.close()


def take_over(
    config: StackConfig,
    region: str,
    epoch: int,
    *,
    wait: float = STALE_CLAIM_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReconcileResult | None:
    """Reconcile every unfinished file into `region` (active under `epoch`) and record it,
    unless someone else has or is doing it: then wait up to `wait` seconds by `clock`
    (`wait=0`: not at all) for their result (None if it did not come)."""
    takeovers = TakeoverLog(config)
    try:
        deadline = clock() + wait
        while not takeovers.claim(epoch, region):
            done = takeovers.result(epoch)
            if done is not None or clock() >= deadline:
                return done
            sleep(0.05)  # another process is reconciling; its result is a row away
        result = _reconcile(config, region)
        takeovers.record(epoch, region, result)
        return result
    finally:
        takeovers.close()


def _reconcile(config: StackConfig, region: str) -> ReconcileResult:
    tables = [open_tables(config, name) for name in config.regions]
    try:
        return reconcile(
            region=region,
            store=open_region_store(config, region),
            tables=[t.batch_state for t in tables],
            metrics=SqliteMetrics(config.metrics_db),
            suffixes=config.input_suffixes,
        )
    finally:
        for t in tables:
            t.close()


class TakeoverWatch:
    """Run by one region's loop: take over every epoch this region is active under."""

    def __init__(
        self,
        config: StackConfig,
        region: str,
        *,
        clock: Callable[[], float] = time.time,
        check_every: float = 0.5,
        sweep_every: float = 5.0,
    ) -> None:
        self.config = config
        self.region = config.check_region(region)
        self._routing = open_routing(config)
        self._log = TakeoverLog(config)
        self._clock = clock
        self._check_every = check_every
        self._next_check = 0.0
        self._sweep_every = sweep_every
        self._next_sweep = 0.0

    def tick(self) -> ReconcileResult | None:
        """Reconcile if this region is active under an epoch not reconciled yet and the
        wait for replication is over; returns what reconciliation did, else None."""
        now = self._clock()
        if now < self._next_check:
            return None
        self._next_check = now + self._check_every
        state = self._routing.state()
        # The log is the one record of an epoch's takeover (a result, once written, stays):
        # read at every look, it answers for this watch's takeovers and everyone else's.
        if state.active_region != self.region:
            return None
        if self._log.result(state.epoch) is not None:
            self._sweep(state.epoch, now)
            return None
        peer = self.config.peer_of(self.region)
        waited = now - state.changed_at
        if waited < self.config.replication_sla_seconds and pending_replication(
            self.config, peer, self.region
        ):
            return None  # the unfinished files' objects are still on their way
        result = take_over(self.config, self.region, state.epoch, wait=0)
        if result is None:
            return None  # someone else (the runbook) is reconciling this epoch
        log.info(
            "took over epoch %d: %d re-driven, %d missing",
            state.epoch,
            len(result.redriven),
            len(result.missing),
        )
        return result

    def _sweep(self, epoch: int, now: float) -> None:
        """After the epoch's takeover, every `sweep_every` seconds: re-drive records an
        older epoch left unfinished that replicated in since (`redrive_stale`)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every
        tables = open_tables(self.config, self.region)
        store = open_region_store(self.config, self.region)
        try:
            redriven = redrive_stale(epoch=epoch, store=store, table=tables.batch_state)
        finally:
            store.feed.close()
            tables.close()
        if redriven:
            log.info("re-drove %d file(s) left unfinished by an older epoch: %s",
                     len(redriven), ", ".join(redriven))  # fmt: skip

    def close(self) -> None:
        self._log.close()
        self._routing.close()
