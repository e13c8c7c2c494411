"""One SQLite database file shared by threads and processes.

Every local store (tables, the object index, routing control, metrics, the mail ledger)
keeps its state in SQLite in WAL mode, so readers never block the writer and several
processes can open the same file. Writes go through `transaction()`, which starts with
`BEGIN IMMEDIATE`: the write lock is taken before anything is read, so a conditional write
(read, check, write) cannot interleave with another writer in any process.

Example:
    >>> import tempfile, pathlib
    >>> db = SqliteDatabase(pathlib.Path(tempfile.mkdtemp()) / "x.db")
    >>> with db.transaction() as conn:
    ...     _ = conn.execute("CREATE TABLE t (v INTEGER)")
    >>> db.close()
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from mrbatch.errors import MrBatchError

__all__ = ["SqliteDatabase", "query_read_only"]

# How long a writer waits for another process's write lock before giving up (ms).
BUSY_TIMEOUT_MS = 30_000


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the database to WAL mode, retrying while another process holds the lock.

    Several processes of a stack open the same new file at once (a region and the
    replicator both open the region's tables). The switch needs an exclusive lock, and
    SQLite answers SQLITE_BUSY at once, without the busy handler, when two connections
    each hold a shared lock and want it (deadlock avoidance): so the retry is ours,
    bounded by the same busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)  # the other opener finishes its switch within milliseconds


class SqliteDatabase:
    """A SQLite connection in WAL mode with explicit transactions, safe to share by threads.

    One connection per instance, guarded by a lock: SQLite serialises writers anyway, and
    each process opens its own instance, so cross-process safety comes from SQLite's file
    locks (with a busy timeout) rather than from this lock.
    """

    def __init__(self, path: Path | str, *, error: type[MrBatchError] = MrBatchError) -> None:
        """Open (creating if needed) the database at `path`; SQLite failures inside
        `transaction()` / `reading()` are raised as `error` (the caller's own error type)."""
        self.path = Path(path)
        self._error = error
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise error(f"cannot open database {self.path}: {exc}") from exc
        self._conn = conn
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`): committed on success, rolled back on error.

        Not re-entrant: do not open a transaction inside another one.
        """
        with self._lock, self._translated():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read snapshot (`BEGIN DEFERRED`): every statement inside sees the same state."""
        with self._lock, self._translated():
            conn = self._conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(f"database {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the connection; the instance cannot be used afterwards. Idempotent."""
        with self._lock:
            self._conn.close()


def query_read_only(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the database at `path`, opened read-only, for reading another
    process's database (a region's workflow history) without creating or locking it for
    writing. No rows when the file or its table does not exist yet."""
    if not path.exists():
        return []
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)) as conn:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # created, schema not written yet
                return []
            raise
