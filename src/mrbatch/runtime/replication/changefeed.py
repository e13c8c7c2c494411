"""A region bucket's change feed: the durable queue behind object events and replication.

Every put into a region's bucket is recorded here, in order, in one SQLite file per region.
Consumers (the region's trigger, the replicator towards the peer region) read the committed
entries after their own cursor and acknowledge them once handled, which gives at-least-once
delivery that survives a restart of any process.

A put is recorded in two steps so that a crash between writing the object and recording it
cannot lose the event: `begin` inserts a *pending* entry before the object is written,
`commit` fills in its version and ETag after. Readers stop at the oldest pending entry, so
a cursor never moves past a put whose outcome is unknown; `settle` resolves entries left
pending by a crashed writer by looking at the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mrbatch.errors import ObjectNotFoundError, StorageError
from mrbatch.ports import REPLICA, ObjectInfo, ObjectStore
from mrbatch.state.db import SqliteDatabase

__all__ = ["Change", "ChangeFeed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'committed')),
    version_id TEXT,
    etag TEXT,
    size INTEGER,
    replica INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    latency REAL NOT NULL,
    PRIMARY KEY (consumer, seq)
);
"""


@dataclass(frozen=True)
class Change:
    """One committed put: which object version appeared, and when."""

    seq: int
    key: str
    version_id: str
    etag: str
    size: int
    replica: bool
    created_at: float


class ChangeFeed:
    """The change feed of one region's bucket, shared by every process of the stack."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._db = SqliteDatabase(path, error=StorageError)
        self._clock = clock
        with self._db.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        """Close the feed's connection (idempotent)."""
        self._db.close()

    # --- writers ---------------------------------------------------------------------------

    def begin(self, key: str) -> int:
        """Record that a put of `key` is about to happen; returns the entry's sequence."""
        with self._db.transaction() as db:
            cur = db.execute(
                "INSERT INTO changes (key, state, created_at) VALUES (?, 'pending', ?)",
                (key, self._clock()),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def commit(self, seq: int, info: ObjectInfo) -> None:
        """Complete entry `seq` with what the put produced."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE changes SET state='committed', version_id=?, etag=?, size=?, replica=?"
                " WHERE seq=?",
                (
                    info.version_id,
                    info.etag,
                    info.size,
                    int(info.replication_status == REPLICA),
                    seq,
                ),
            )

    def abandon(self, seq: int) -> None:
        """Drop entry `seq`: its put failed and wrote nothing."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM changes WHERE seq=? AND state='pending'", (seq,))

    def settle(self, store: ObjectStore, *, older_than_seconds: float = 30.0) -> int:
        """Resolve pending entries older than the limit, left by a writer that crashed
        mid-put: commit them with the object as it is now, or drop them if it does not exist.
        Returns how many entries were settled."""
        limit = self._clock() - older_than_seconds
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT seq, key FROM changes WHERE state='pending' AND created_at < ?", (limit,)
            ).fetchall()
        for seq, key in rows:
            try:
                info = store.head(key)
            except ObjectNotFoundError:
                self.abandon(seq)
                continue
            if self._recorded(key, info.version_id):
                self.abandon(seq)  # a retried put already recorded this version
            else:
                self.commit(seq, info)
        return len(rows)

    def _recorded(self, key: str, version_id: str) -> bool:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT 1 FROM changes WHERE key=? AND version_id=? AND state='committed'",
                (key, version_id),
            ).fetchone()
        return row is not None

    # --- consumers -------------------------------------------------------------------------

    def cursor(self, consumer: str) -> int:
        """The last sequence `consumer` acknowledged (0 before the first)."""
        with self._db.reading() as db:
            row = db.execute("SELECT seq FROM cursors WHERE consumer=?", (consumer,)).fetchone()
        return int(row[0]) if row else 0

    def start_cursor(self, consumer: str, at: int) -> int:
        """Create `consumer`'s cursor at `at` unless it exists (a consumer added to a feed
        that already has history starts there, not at its beginning); returns the cursor."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO cursors (consumer, seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (consumer, at),
            )
        return self.cursor(consumer)

    def read(self, consumer: str, *, limit: int = 100) -> list[Change]:
        """Committed entries after `consumer`'s cursor, oldest first, stopping before the
        oldest pending entry so that nothing is skipped."""
        after = self.cursor(consumer)
        with self._db.reading() as db:
            first_pending = db.execute(
                "SELECT MIN(seq) FROM changes WHERE state='pending' AND seq > ?", (after,)
            ).fetchone()[0]
            bound = first_pending if first_pending is not None else 2**62
            rows = db.execute(
                "SELECT seq, key, version_id, etag, size, replica, created_at FROM changes"
                " WHERE seq > ? AND seq < ? AND state='committed' ORDER BY seq LIMIT ?",
                (after, bound, limit),
            ).fetchall()
        return [
            Change(seq, key, version, etag, size, bool(replica), created)
            for seq, key, version, etag, size, replica, created in rows
        ]

    def ack(self, consumer: str, seq: int) -> None:
        """Move `consumer`'s cursor to `seq` (never backwards)."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO cursors (consumer, seq) VALUES (?, ?) ON CONFLICT(consumer)"
                " DO UPDATE SET seq=MAX(seq, excluded.seq)",
                (consumer, seq),
            )

    def record_delivery(self, consumer: str, change: Change) -> float:
        """Note that `change` reached `consumer` now; returns the latency in seconds.
        Recording the same delivery twice keeps the first (at-least-once consumers)."""
        latency = max(0.0, self._clock() - change.created_at)
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO deliveries (consumer, seq, latency) VALUES (?, ?, ?)",
                (consumer, change.seq, latency),
            )
        return latency

    def latency_stats(self, consumer: str, *, sla_seconds: float) -> tuple[int, int, float]:
        """(deliveries, deliveries later than the SLA, worst latency) for `consumer`."""
        with self._db.reading() as db:
            count, late, worst = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(latency > ?), 0), COALESCE(MAX(latency), 0)"
                " FROM deliveries WHERE consumer=?",
                (sla_seconds, consumer),
            ).fetchone()
        return int(count), int(late), float(worst)

    def recent_latencies(self, consumer: str, *, limit: int) -> list[float]:
        """The latencies of `consumer`'s newest `limit` deliveries (newest first), read
        through the deliveries' primary key: bounded however long the feed has run."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT latency FROM deliveries WHERE consumer=? ORDER BY seq DESC LIMIT ?",
                (consumer, limit),
            ).fetchall()
        return [float(latency) for (latency,) in rows]

    def backlog(
        self, consumer: str, *, include_replicas: bool = True
    ) -> tuple[int, int, float | None]:
        """(entries, bytes, creation time of the oldest) not yet acknowledged by `consumer`,
        pending puts included; replicas excluded when asked (they are never re-replicated)."""
        after = self.cursor(consumer)
        replica_clause = "" if include_replicas else " AND replica=0"
        with self._db.reading() as db:
            count, size, oldest = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(created_at) FROM changes"
                f" WHERE seq > ?{replica_clause}",
                (after,),
            ).fetchone()
        return int(count), int(size), oldest
