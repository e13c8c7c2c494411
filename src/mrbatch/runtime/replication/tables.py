"""Item-level table replication between the two regions, like DynamoDB Global Tables.

One `TableReplicator` per table and direction reads the source table's change feed after
its cursor and applies every change whose `origin` is the source region to the destination
table, keeping a change only if it is newer by `(updated_at, origin)` (last writer wins):
`SqliteTable.apply_page_from`, which does `changes_since` + `apply_replicas` inside SQLite
(the source file attached, one `INSERT … SELECT` per page), so a page of a large load
costs no JSON round trip. Changes that arrived in the source as replicas carry the peer's
origin and are skipped, so nothing ping-pongs.

Why the replicas converge whatever the order: every item's winning write is the one with
the greatest `(updated_at, origin)`; each region forwards its own writes, and each apply
keeps the greater of two stamps, so once both directions have drained (after a partition
heals) both sides hold the same winner. Deletes are tombstones in the feed and replicate
like any other write.

Restart safety: the cursor and the counters live in a small SQLite table
(`SqliteCursorStore`) and move only after the destination has applied the changes. A
replicator killed in between re-applies them on restart, which changes nothing, since
the apply refuses a write whose stamp the destination already holds.

Example:
    >>> import tempfile, pathlib
    >>> from mrbatch.state import BATCH_STATE, SqliteDatabase, SqliteTable
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> east = SqliteTable(SqliteDatabase(root / "e.db"), BATCH_STATE, origin="us-east-1")
    >>> west = SqliteTable(SqliteDatabase(root / "w.db"), BATCH_STATE, origin="us-west-2")
    >>> east.put({"file_id": "a.csv#v1", "status": "INITIALIZED"})
    >>> replicator = TableReplicator(
    ...     east, west, source_region="us-east-1",
    ...     cursor_store=SqliteCursorStore(root / "cursors.db"))
    >>> replicator.run_once()
    1
    >>> west.get({"file_id": "a.csv#v1"})["status"]
    'INITIALIZED'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from mrbatch.errors import ConfigError, TableError
from mrbatch.state.db import SqliteDatabase
from mrbatch.state.sqlite import ReplicaPage, SqliteTable

__all__ = [
    "PAGE_CHANGES",
    "CursorState",
    "CursorStore",
    "SqliteCursorStore",
    "TableReplicationStatus",
    "TableReplicator",
]

# Changes read and applied per round and table, in one destination transaction. Each commit
# rewrites every index page its random keys touch, so large pages are what make a load of
# a million financial rows cheap: 200k changes, 1.5 s of CPU in pages of 5,000 against
# 1.0 s in pages of 50,000 (docs/performance.md, "Financial data"); a page holds the
# destination's write lock for well under a second.
PAGE_CHANGES = 50_000


@dataclass(frozen=True)
class CursorState:
    """Where one replicator stands: the last source `seq` handled, and its counters."""

    seq: int = 0
    applied: int = 0  # changes the destination kept
    superseded: int = 0  # changes the destination already had, or had a newer write for
    last_lag_seconds: float = 0.0  # write in the source -> applied in the destination
    worst_lag_seconds: float = 0.0


class CursorStore(Protocol):
    """Durable cursors of table replicators, by replicator name."""

    def load(self, name: str) -> CursorState:
        """The saved state of `name`; a fresh `CursorState()` before the first save."""
        ...

    def save(self, name: str, state: CursorState) -> None:
        """Persist `state` for `name` (durable once this returns). Idempotent."""
        ...


class SqliteCursorStore:
    """Cursors in one SQLite file (WAL), one row per replicator.

    Example:
        >>> import tempfile, pathlib
        >>> store = SqliteCursorStore(pathlib.Path(tempfile.mkdtemp()) / "c.db")
        >>> store.save("t", CursorState(seq=4, applied=2))
        >>> store.load("t").seq, store.load("other").seq
        (4, 0)
    """

    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, error=TableError)
        with self._db.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS table_cursors (name TEXT PRIMARY KEY, "
                "seq INTEGER NOT NULL, applied INTEGER NOT NULL, superseded INTEGER NOT NULL, "
                "last_lag REAL NOT NULL, worst_lag REAL NOT NULL)"
            )

    def load(self, name: str) -> CursorState:
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT seq, applied, superseded, last_lag, worst_lag FROM table_cursors "
                "WHERE name = ?",
                (name,),
            ).fetchone()
        return CursorState() if row is None else CursorState(*row)

    def save(self, name: str, state: CursorState) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO table_cursors VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    state.seq,
                    state.applied,
                    state.superseded,
                    state.last_lag_seconds,
                    state.worst_lag_seconds,
                ),
            )

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


@dataclass(frozen=True)
class TableReplicationStatus:
    """Replication metrics of one table in one direction."""

    table: str
    source: str
    destination: str
    items_pending: int  # source-region writes after the cursor
    oldest_pending_age_seconds: float
    applied: int
    superseded: int
    last_lag_seconds: float
    worst_lag_seconds: float


class TableReplicator:
    """Forwards `source_table`'s own writes (origin `source_region`) to `dest_table`."""

    def __init__(
        self,
        source_table: SqliteTable,
        dest_table: SqliteTable,
        *,
        source_region: str,
        cursor_store: CursorStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_pair(source_table, dest_table, source_region)
        self.table = source_table.name
        self.source = source_region
        self.destination = dest_table.origin
        self.name = f"{self.table}:{self.source}->{self.destination}"
        self._source = source_table
        self._dest = dest_table
        self._cursors = cursor_store
        self._clock = clock
        self._state = cursor_store.load(self.name)

    def run_once(self, *, limit: int = PAGE_CHANGES) -> int:
        """Apply the next (at most `limit`) source changes, in one destination transaction
        (`SqliteTable.apply_page_from`); returns how many the destination kept. The cursor
        is saved after the commit (a failed transaction applied nothing, and the cursor
        stays; a crash in between re-applies a page, which changes nothing)."""
        page = self._dest.apply_page_from(
            self._source, self._state.seq, origin=self.source, limit=limit
        )
        if not page.read:
            return 0
        state = self._counted(page, self._state)
        self._cursors.save(self.name, state)
        self._state = state
        return page.applied

    def _counted(self, page: ReplicaPage, state: CursorState) -> CursorState:
        """`state` moved past `page`, with its applied / superseded counters and lags."""
        state = replace(
            state,
            seq=page.seq,
            applied=state.applied + page.applied,
            superseded=state.superseded + page.offered - page.applied,
        )
        if page.oldest_applied is None or page.last_applied is None:
            return state
        now = self._clock()
        worst = max(0.0, now - page.oldest_applied / 1_000_000)
        return replace(
            state,
            last_lag_seconds=max(0.0, now - page.last_applied / 1_000_000),
            worst_lag_seconds=max(state.worst_lag_seconds, worst),
        )

    def pending(self) -> tuple[int, float | None]:
        """(source-region changes after the cursor, write time of the oldest of them)."""
        count, oldest = self._source.pending_changes(self._state.seq, self.source)
        return count, None if oldest is None else oldest / 1_000_000

    def status(self) -> TableReplicationStatus:
        """The current metrics of this table and direction."""
        count, oldest = self.pending()
        state = self._state
        return TableReplicationStatus(
            table=self.table,
            source=self.source,
            destination=self.destination,
            items_pending=count,
            oldest_pending_age_seconds=0.0 if oldest is None else max(0.0, self._clock() - oldest),
            applied=state.applied,
            superseded=state.superseded,
            last_lag_seconds=state.last_lag_seconds,
            worst_lag_seconds=state.worst_lag_seconds,
        )


def _check_pair(source: SqliteTable, dest: SqliteTable, source_region: str) -> None:
    """Refuse a pairing that could never converge, with a message for a person."""
    if source.name != dest.name:
        raise ConfigError(f"cannot replicate table {source.name} into table {dest.name}")
    if source.origin != source_region:
        raise ConfigError(
            f"source table {source.name} stamps its writes {source.origin!r}, "
            f"not {source_region!r}: its writes would never be forwarded"
        )
    if dest.origin == source_region:
        raise ConfigError(f"table {source.name}: source and destination are both {source_region}")
