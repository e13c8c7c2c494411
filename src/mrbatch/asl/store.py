"""SQLite persistence of state machines, executions, event histories and memoised results.

One file in WAL mode. Writes come from the engine's event-loop thread only; history events
are buffered and written in one transaction per batch (a flush is scheduled as soon as the
buffer is non-empty, and every memo write or status change flushes first), which keeps
durable history cheap. Losing unflushed events in a crash is harmless: events are keyed
deterministically and a resumed execution re-emits exactly the missing ones.

Memo rows are what makes resume exact: a task's outcome is written (with the events before
it) in one transaction right after the task returns, and a resumed run reuses it instead
of calling the task again.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mrbatch.asl.definition import JsonValue
from mrbatch.errors import MrBatchError

__all__ = [
    "ExecutionRecord",
    "ExecutionStatus",
    "HistoryEvent",
    "MapRunRecord",
    "StateMachineRecord",
    "Store",
    "StoreError",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, state_machine_arn TEXT NOT NULL,
    status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
    start_date REAL NOT NULL, stop_date REAL, UNIQUE (state_machine_arn, name));
CREATE INDEX IF NOT EXISTS executions_status ON executions (status, start_date);
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
    timestamp REAL NOT NULL, type TEXT NOT NULL, details TEXT, key TEXT,
    PRIMARY KEY (execution_arn, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memo (
    execution_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (execution_arn, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_runs (
    arn TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, state_name TEXT NOT NULL,
    status TEXT NOT NULL, max_concurrency INTEGER NOT NULL, tolerated_failure_count INTEGER,
    tolerated_failure_percentage REAL, item_counts TEXT NOT NULL, start_date REAL NOT NULL,
    stop_date REAL, error TEXT, cause TEXT);
CREATE INDEX IF NOT EXISTS map_runs_execution ON map_runs (execution_arn, start_date);
CREATE TABLE IF NOT EXISTS finished_unreported (arn TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_tokens (
    token TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, key TEXT NOT NULL,
    heartbeat REAL NOT NULL, outcome TEXT) WITHOUT ROWID;
"""


class StoreError(MrBatchError):
    """The workflow database cannot be opened or written."""


class ExecutionStatus(enum.StrEnum):
    """Execution statuses, spelled as AWS Step Functions spells them."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"


@dataclass(frozen=True)
class StateMachineRecord:
    """A created state machine: its ARN, name and (substituted) definition JSON."""

    arn: str
    name: str
    definition: dict[str, JsonValue]
    role_arn: str
    created: float


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution as DescribeExecution shows it; input/output are parsed JSON."""

    arn: str
    name: str
    state_machine_arn: str
    status: ExecutionStatus
    input: JsonValue
    output: JsonValue
    error: str | None
    cause: str | None
    start_date: float
    stop_date: float | None

    def to_json(self) -> dict[str, JsonValue]:
        """The AWS DescribeExecution shape (input/output as JSON strings, ISO dates)."""
        out: dict[str, JsonValue] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status.value,
            "startDate": _iso(self.start_date),
            "input": json.dumps(self.input),
        }
        if self.stop_date is not None:
            out["stopDate"] = _iso(self.stop_date)
        if self.status is ExecutionStatus.SUCCEEDED:
            out["output"] = json.dumps(self.output)
        if self.error is not None:
            out["error"] = self.error
        if self.cause is not None:
            out["cause"] = self.cause
        return out


@dataclass(frozen=True)
class HistoryEvent:
    """One history event, as GetExecutionHistory returns it."""

    id: int
    previous_event_id: int
    timestamp: float
    type: str
    details: dict[str, JsonValue] | None

    def to_json(self) -> dict[str, JsonValue]:
        """The AWS event shape: `<lowerCamelType>EventDetails` holds the details."""
        out: dict[str, JsonValue] = {
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "timestamp": _iso(self.timestamp),
            "type": self.type,
        }
        if self.details is not None:
            out[_details_key(self.type)] = self.details
        return out


@dataclass(frozen=True)
class MapRunRecord:
    """One Map Run (the child executions of one Distributed Map visit), as DescribeMapRun
    shows it; `item_counts` holds total, succeeded, failed, aborted, running."""

    arn: str
    execution_arn: str
    state_name: str
    status: str
    max_concurrency: int
    tolerated_failure_count: int | None
    tolerated_failure_percentage: float | None
    item_counts: dict[str, int]
    start_date: float
    stop_date: float | None = None
    error: str | None = None
    cause: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The AWS DescribeMapRun shape (ISO dates)."""
        out: dict[str, JsonValue] = {
            "mapRunArn": self.arn,
            "executionArn": self.execution_arn,
            "status": self.status,
            "startDate": _iso(self.start_date),
            "maxConcurrency": self.max_concurrency,
            "toleratedFailurePercentage": self.tolerated_failure_percentage or 0.0,
            "toleratedFailureCount": self.tolerated_failure_count or 0,
            "itemCounts": dict(self.item_counts),
            "executionCounts": dict(self.item_counts),
        }
        if self.stop_date is not None:
            out["stopDate"] = _iso(self.stop_date)
        return out


def _details_key(event_type: str) -> str:
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class Store:
    """The engine's database. Not thread-safe: one thread writes (the engine loop)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open workflow database {self.path}: {exc}") from exc
        self._pending: list[tuple[Any, ...]] = []

    def close(self) -> None:
        """Flush buffered events and close the connection."""
        self.flush()
        self._db.close()

    # --- writes ----------------------------------------------------------------------------

    def buffer_event(self, execution_arn: str, event: HistoryEvent, key: str | None) -> None:
        """Queue an event; it is written at the next `flush` (or any transaction)."""
        details = None if event.details is None else json.dumps(event.details)
        self._pending.append(
            (
                execution_arn,
                event.id,
                event.previous_event_id,
                event.timestamp,
                event.type,
                details,
                key,
            )
        )

    @property
    def has_pending(self) -> bool:
        """Whether events wait to be written."""
        return bool(self._pending)

    def flush(self) -> None:
        """Write the buffered events in one transaction."""
        if self._pending:
            with self._transaction():
                pass

    def put_memo(self, execution_arn: str, key: str, value: JsonValue) -> None:
        """Durably record a memoised outcome (with every buffered event before it)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO memo VALUES (?, ?, ?)",
                (execution_arn, key, json.dumps(value)),
            )

    def put_state_machine(self, record: StateMachineRecord) -> None:
        """Create or update a state machine (same ARN: the definition is replaced)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO state_machines VALUES (?, ?, ?, ?, ?)",
                (
                    record.arn,
                    record.name,
                    json.dumps(record.definition),
                    record.role_arn,
                    record.created,
                ),
            )

    def insert_execution(self, record: ExecutionRecord) -> None:
        """Create a RUNNING execution (the caller checked the name is free)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO executions VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, NULL)",
                (
                    record.arn,
                    record.name,
                    record.state_machine_arn,
                    record.status.value,
                    json.dumps(record.input),
                    record.start_date,
                ),
            )

    def finish_execution(
        self,
        arn: str,
        status: ExecutionStatus,
        *,
        output: JsonValue = None,
        error: str | None = None,
        cause: str | None = None,
        stop_date: float,
        report: bool = False,
    ) -> bool:
        """Move a RUNNING execution to a final status; False when it was no longer RUNNING
        (a concurrent stop won), in which case nothing changes. With `report`, the end is
        also queued for the status listeners in the same transaction (see `unreported`), so
        a crash between the two cannot lose it."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE executions SET status=?, output=?, error=?, cause=?, stop_date=? "
                "WHERE arn=? AND status='RUNNING'",
                (
                    status.value,
                    json.dumps(output) if status is ExecutionStatus.SUCCEEDED else None,
                    error,
                    cause,
                    stop_date,
                    arn,
                ),
            )
            if report and cur.rowcount == 1:
                db.execute("INSERT OR IGNORE INTO finished_unreported VALUES (?)", (arn,))
            return cur.rowcount == 1

    def put_map_run(self, record: MapRunRecord) -> None:
        """Record a started Map Run (idempotent: a replayed start keeps the first record)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO map_runs "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                (
                    record.arn,
                    record.execution_arn,
                    record.state_name,
                    record.status,
                    record.max_concurrency,
                    record.tolerated_failure_count,
                    record.tolerated_failure_percentage,
                    json.dumps(record.item_counts),
                    record.start_date,
                ),
            )

    def finish_map_run(
        self,
        arn: str,
        status: str,
        item_counts: dict[str, int],
        *,
        error: str | None = None,
        cause: str | None = None,
        stop_date: float,
    ) -> None:
        """Give a RUNNING Map Run its final status and counts (no change once final)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE map_runs SET status=?, item_counts=?, error=?, cause=?, stop_date=? "
                "WHERE arn=? AND status='RUNNING'",
                (status, json.dumps(item_counts), error, cause, stop_date, arn),
            )

    def map_run(self, arn: str) -> MapRunRecord | None:
        """The Map Run with this ARN, or None."""
        row = self._db.execute("SELECT * FROM map_runs WHERE arn=?", (arn,)).fetchone()
        return None if row is None else _map_run(row)

    def map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """The Map Runs an execution started, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM map_runs WHERE execution_arn=? ORDER BY start_date, arn",
            (execution_arn,),
        ).fetchall()
        return [_map_run(row) for row in rows]

    def unreported(self) -> list[str]:
        """ARNs of finished executions whose end the listeners have not yet handled."""
        return [r[0] for r in self._db.execute("SELECT arn FROM finished_unreported")]

    def reported(self, arn: str) -> None:
        """The listeners handled the end of execution `arn` (idempotent)."""
        with self._transaction() as db:
            db.execute("DELETE FROM finished_unreported WHERE arn=?", (arn,))

    def put_task_token(self, token: str, execution_arn: str, key: str, now: float) -> None:
        """Record a callback task's token (idempotent: a replay keeps the first record)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO task_tokens VALUES (?, ?, ?, ?, NULL)",
                (token, execution_arn, key, now),
            )

    def resolve_task_token(self, token: str, outcome: JsonValue) -> bool:
        """Set a token's outcome once; False when it had one already (or does not exist)."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE task_tokens SET outcome=? WHERE token=? AND outcome IS NULL",
                (json.dumps(outcome), token),
            )
            return cur.rowcount == 1

    def heartbeat_task_token(self, token: str, now: float) -> bool:
        """Record a heartbeat; False when the token is unknown or already resolved."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE task_tokens SET heartbeat=? WHERE token=? AND outcome IS NULL",
                (now, token),
            )
            return cur.rowcount == 1

    def task_token(self, token: str) -> tuple[str, float, JsonValue] | None:
        """(execution ARN, last heartbeat, outcome or None) of a token, or None."""
        row = self._db.execute(
            "SELECT execution_arn, heartbeat, outcome FROM task_tokens WHERE token=?", (token,)
        ).fetchone()
        if row is None:
            return None
        return row[0], row[1], None if row[2] is None else json.loads(row[2])

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def _write_pending(self) -> None:
        if self._pending:
            self._db.executemany(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending.clear()

    # --- reads -----------------------------------------------------------------------------

    def state_machine(self, arn: str) -> StateMachineRecord | None:
        """The state machine with this ARN, or None."""
        row = self._db.execute("SELECT * FROM state_machines WHERE arn=?", (arn,)).fetchone()
        return (
            None
            if row is None
            else StateMachineRecord(row[0], row[1], json.loads(row[2]), row[3], row[4])
        )

    def execution(self, arn: str) -> ExecutionRecord | None:
        """The execution with this ARN, or None."""
        row = self._db.execute("SELECT * FROM executions WHERE arn=?", (arn,)).fetchone()
        return None if row is None else _execution(row)

    def executions(
        self,
        state_machine_arn: str | None = None,
        status: ExecutionStatus | None = None,
        page_size: int = 500,
    ) -> Iterator[ExecutionRecord]:
        """Executions, newest first, optionally of one state machine and/or one status."""
        where, args = [], []
        if state_machine_arn is not None:
            where.append("state_machine_arn=?")
            args.append(state_machine_arn)
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        sql = "SELECT * FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY start_date DESC, arn LIMIT ? OFFSET ?"
        offset = 0
        while True:
            rows = self._db.execute(sql, (*args, page_size, offset)).fetchall()
            yield from (_execution(r) for r in rows)
            if len(rows) < page_size:
                return
            offset += page_size

    def events(self, execution_arn: str, page_size: int = 1000) -> Iterator[HistoryEvent]:
        """The execution's history, oldest first (buffered events are flushed first)."""
        self.flush()
        after = 0
        while True:
            rows = self._db.execute(
                "SELECT id, previous_id, timestamp, type, details FROM events "
                "WHERE execution_arn=? AND id>? ORDER BY id LIMIT ?",
                (execution_arn, after, page_size),
            ).fetchall()
            for r in rows:
                yield HistoryEvent(
                    r[0], r[1], r[2], r[3], None if r[4] is None else json.loads(r[4])
                )
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def event_keys(self, execution_arn: str) -> dict[str, tuple[int, float]]:
        """key -> (event id, timestamp) of every keyed event (used to resume)."""
        rows = self._db.execute(
            "SELECT key, id, timestamp FROM events WHERE execution_arn=? AND key IS NOT NULL",
            (execution_arn,),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def last_event_id(self, execution_arn: str) -> int:
        """The highest event id of the execution (0 when none)."""
        row = self._db.execute(
            "SELECT MAX(id) FROM events WHERE execution_arn=?", (execution_arn,)
        ).fetchone()
        return int(row[0] or 0)

    def memos(self, execution_arn: str) -> dict[str, JsonValue]:
        """Every memoised outcome of the execution."""
        rows = self._db.execute(
            "SELECT key, value FROM memo WHERE execution_arn=?", (execution_arn,)
        )
        return {r[0]: json.loads(r[1]) for r in rows}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT that also writes the buffered events first."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._store._db.execute("BEGIN IMMEDIATE")
            self._store._write_pending()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write workflow database: {exc}") from exc
        return self._store._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        db = self._store._db
        if exc_type is None:
            try:
                db.execute("COMMIT")
                return
            except sqlite3.Error as err:
                db.execute("ROLLBACK")
                raise StoreError(f"cannot write workflow database: {err}") from err
        db.execute("ROLLBACK")


def _map_run(row: tuple[Any, ...]) -> MapRunRecord:
    return MapRunRecord(
        arn=row[0],
        execution_arn=row[1],
        state_name=row[2],
        status=row[3],
        max_concurrency=row[4],
        tolerated_failure_count=row[5],
        tolerated_failure_percentage=row[6],
        item_counts=json.loads(row[7]),
        start_date=row[8],
        stop_date=row[9],
        error=row[10],
        cause=row[11],
    )


def _execution(row: tuple[Any, ...]) -> ExecutionRecord:
    return ExecutionRecord(
        arn=row[0],
        name=row[1],
        state_machine_arn=row[2],
        status=ExecutionStatus(row[3]),
        input=json.loads(row[4]),
        output=None if row[5] is None else json.loads(row[5]),
        error=row[6],
        cause=row[7],
        start_date=row[8],
        stop_date=row[9],
    )
