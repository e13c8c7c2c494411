"""The failover / failback runbook, recorded like an SSM Automation execution.

Three steps, each recorded with status and timings in `<data_dir>/runbooks.db`:

1. **FlipRoutingControl**: make the target region active; the epoch grows, which fences
   every side effect of work started under the old epoch.
2. **WaitForReplication**: wait until nothing is pending from the old region towards the
   new one for the objects of unfinished files (their inputs and intermediate chunks),
   bounded by `max_wait` (default: the replication SLA) — not a fixed 15 minutes.
3. **Reconcile**: re-drive every unfinished file whose input is in the new region; report
   the ones not there yet (their replica's arrival drives them). This is the region's
   takeover (`mrbatch.runtime.operations.takeover`), run here at once so the operator sees its
   result; the new active region would run it by itself otherwise.

The same runbook serves failover and failback: only the target differs.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from typing import Any

from mrbatch.errors import ConfigError, MrBatchError, RoutingError
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.takeover import take_over
from mrbatch.runtime.replication.backlog import pending_replication
from mrbatch.runtime.wiring import open_routing
from mrbatch.state.db import SqliteDatabase

__all__ = ["RunbookLog", "run_runbook"]

Progress = Callable[[str], None]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
    reason TEXT NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    result TEXT
)""",
    """CREATE TABLE IF NOT EXISTS steps (
    execution_id TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, detail TEXT,
    PRIMARY KEY (execution_id, position)
)""",
)


class RunbookLog:
    """Runbook executions and their steps, in SQLite."""

    def __init__(self, config: StackConfig) -> None:
        self._database = SqliteDatabase(config.runbooks_db)
        with self._database.transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def close(self) -> None:
        """Close the log's database."""
        self._database.close()

    def begin(self, kind: str, source: str, target: str, reason: str) -> str:
        execution_id = uuid.uuid4().hex[:12]
        with self._db() as db:
            db.execute(
                "INSERT INTO executions VALUES (?, ?, ?, ?, ?, 'InProgress', ?, NULL, NULL)",
                (execution_id, kind, source, target, reason, time.time()),
            )
        return execution_id

    @contextmanager
    def step(self, execution_id: str, position: int, name: str) -> Iterator[dict[str, Any]]:
        """Record one step; the caller fills the yielded dict with the step's detail."""
        detail: dict[str, Any] = {}
        with self._db() as db:
            db.execute(
                "INSERT INTO steps VALUES (?, ?, ?, 'InProgress', ?, NULL, NULL)",
                (execution_id, position, name, time.time()),
            )
        status = "Failed"
        try:
            yield detail
            status = "Success"
        except BaseException as exc:
            detail.setdefault("error", str(exc))
            raise
        finally:
            with self._db() as db:
                db.execute(
                    "UPDATE steps SET status=?, ended_at=?, detail=? "
                    "WHERE execution_id=? AND position=?",
                    (status, time.time(), json.dumps(detail), execution_id, position),
                )

    def end(self, execution_id: str, status: str, result: dict[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE executions SET status=?, ended_at=?, result=? WHERE id=?",
                (status, time.time(), json.dumps(result), execution_id),
            )

    def executions(self) -> list[dict[str, Any]]:
        """Every execution with its steps, newest first."""
        with self._database.reading() as db:
            cursor = db.cursor()
            cursor.row_factory = sqlite3.Row
            runs = [
                dict(r) for r in cursor.execute("SELECT * FROM executions ORDER BY started_at DESC")
            ]
            for run in runs:
                run["result"] = json.loads(run["result"]) if run["result"] else None
                run["steps"] = [
                    {**dict(s), "detail": json.loads(s["detail"]) if s["detail"] else None}
                    for s in cursor.execute(
                        "SELECT * FROM steps WHERE execution_id=? ORDER BY position", (run["id"],)
                    ).fetchall()
                ]
        return runs


def _wait_for_replication(
    config: StackConfig, source: str, target: str, max_wait: float, say: Progress
) -> dict[str, Any]:
    started = time.monotonic()
    last = -1
    while True:
        pending = pending_replication(config, source, target)
        waited = time.monotonic() - started
        if len(pending) != last:
            say(f"  replication {source} -> {target}: {len(pending)} object(s) pending")
            last = len(pending)
        if not pending:
            return {"waited_seconds": round(waited, 3), "pending": 0}
        if waited >= max_wait:
            say(f"  gave up waiting after {waited:.0f} s; reconciling what is there")
            return {"waited_seconds": round(waited, 3), "pending": len(pending), "timed_out": True}
        time.sleep(0.1)  # polling other processes' progress; bounded by max_wait


def _count_failover(config: StackConfig, kind: str, target: str) -> None:
    """The sample's RegionalFailover metric, in the region that became active."""
    metrics = SqliteMetrics(config.metrics_db)
    try:
        metrics.count("RegionalFailover", region=target, dimensions={"kind": kind})
    finally:
        metrics.close()


def run_runbook(
    config: StackConfig,
    *,
    kind: str,
    target: str | None,
    reason: str,
    max_wait: float | None = None,
    say: Progress = lambda _: None,
) -> dict[str, Any]:
    """Move activation to `target` (default: the other region) and reconcile; returns the
    execution's result. Raises ConfigError when `target` is already active."""
    routing = open_routing(config)
    before = routing.state()
    target = config.check_region(target or config.peer_of(before.active_region))
    if target == before.active_region:
        raise ConfigError(f"{target} is already the active region (epoch {before.epoch})")
    log = RunbookLog(config)
    run_id = log.begin(kind, before.active_region, target, reason)
    say(f"{kind} {before.active_region} -> {target} (runbook {run_id})")
    try:
        with log.step(run_id, 1, "FlipRoutingControl") as detail:
            after = routing.set_active(target, reason, expected_epoch=before.epoch)
            detail.update(epoch=after.epoch, flipped_at=after.changed_at)
            _count_failover(config, kind, target)
            say(f"  routing control: {target} active, epoch {after.epoch}")
        with log.step(run_id, 2, "WaitForReplication") as detail:
            limit = config.replication_sla_seconds if max_wait is None else max_wait
            detail.update(_wait_for_replication(config, before.active_region, target, limit, say))
        with log.step(run_id, 3, "Reconcile") as detail:
            reconciled = take_over(config, target, after.epoch)
            if reconciled is None:
                raise RoutingError(
                    f"{target} is reconciling epoch {after.epoch} but gave no result in time;"
                    " see `mrbatch files` (the region finishes it by itself)"
                )
            detail.update(**asdict(reconciled), ReconciledFiles=len(reconciled.redriven))
            redriven, missing = len(detail["redriven"]), len(detail["missing"])
            say(f"  reconciled: {redriven} re-driven, {missing} missing (driven on arrival)")
    except MrBatchError as exc:
        log.end(run_id, "Failed", {"error": str(exc)})
        raise
    result = {"id": run_id, "epoch": after.epoch, "flipped_at": after.changed_at, **detail}
    log.end(run_id, "Success", result)
    return result
