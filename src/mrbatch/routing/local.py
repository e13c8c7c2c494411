"""SqliteRoutingControl: the one strongly consistent "which region is active" (as Route 53
ARC's routing control cluster), in one SQLite file that every process opens.

Every change is a new row of `routing_history` with the next epoch, written in a
`BEGIN IMMEDIATE` transaction: the epoch check (`expected_epoch`), the increment and the
insert happen under SQLite's write lock, so two operators (or processes) flipping at once
get one success and one ConditionFailedError, never two changes with the same epoch. The
current state is the row with the highest epoch, so history is never rewritten.

Example:
    >>> import tempfile
    >>> control = MemoryRoutingControl(("us-east-1", "us-west-2"))
    >>> control.state().active_region, control.state().epoch
    ('us-east-1', 1)
    >>> control.set_active("us-west-2", "drill", expected_epoch=1).epoch
    2
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mrbatch.errors import RoutingError
from mrbatch.ports import RoutingState
from mrbatch.routing.rules import INITIAL_REASON, check_known, check_regions, next_state
from mrbatch.state.db import SqliteDatabase

__all__ = ["MemoryRoutingControl", "SqliteRoutingControl"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS routing_history (
    epoch INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    changed_at REAL NOT NULL,
    reason TEXT NOT NULL
)
"""


class SqliteRoutingControl:
    """`RoutingControl` backed by the SQLite file `path`, shared by every process.

    `regions` are the region names that may be made active; the first time the file is
    created, `initial_region` (default: the first region) becomes active with epoch 1.
    """

    def __init__(
        self,
        path: Path | str,
        regions: Sequence[str],
        *,
        initial_region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.regions, first = check_regions(regions, initial_region)
        self._clock = clock
        self._db = SqliteDatabase(path, error=RoutingError)
        with self._db.transaction() as conn:
            conn.execute(_SCHEMA)
            if conn.execute("SELECT 1 FROM routing_history LIMIT 1").fetchone() is None:
                conn.execute(
                    "INSERT INTO routing_history VALUES (1, ?, ?, ?)",
                    (first, clock(), INITIAL_REASON),
                )

    def state(self) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.state`."""
        with self._db.reading() as conn:
            return _latest(conn)

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.set_active`."""
        check_known(self.regions, region)
        with self._db.transaction() as conn:
            current = _latest(conn)
            new = next_state(
                current, region, reason, expected_epoch=expected_epoch, now=self._clock()
            )
            if new is current:
                return current  # no move, no new epoch: nothing in flight is fenced
            conn.execute(
                "INSERT INTO routing_history VALUES (?, ?, ?, ?)",
                (new.epoch, new.active_region, new.changed_at, new.reason),
            )
        return new

    def history(self) -> list[RoutingState]:
        """See `mrbatch.ports.RoutingControl.history`."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT region, epoch, changed_at, reason FROM routing_history ORDER BY epoch"
            ).fetchall()
        return [RoutingState(*row) for row in rows]

    def close(self) -> None:
        """Close the control store."""
        self._db.close()


def _latest(conn: sqlite3.Connection) -> RoutingState:
    row = conn.execute(
        "SELECT region, epoch, changed_at, reason FROM routing_history ORDER BY epoch DESC LIMIT 1"
    ).fetchone()
    if row is None:
        raise RoutingError("the routing control store is empty")
    return RoutingState(*row)


class MemoryRoutingControl:
    """`RoutingControl` in memory (one process), for tests; same rules as the SQLite one."""

    def __init__(
        self,
        regions: Sequence[str],
        *,
        initial_region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.regions, first = check_regions(regions, initial_region)
        self._clock = clock
        self._history = [RoutingState(first, 1, clock(), INITIAL_REASON)]
        self._lock = threading.Lock()

    def state(self) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.state`."""
        with self._lock:
            return self._history[-1]

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.set_active`."""
        check_known(self.regions, region)
        with self._lock:
            current = self._history[-1]
            new = next_state(
                current, region, reason, expected_epoch=expected_epoch, now=self._clock()
            )
            if new is not current:
                self._history.append(new)
            return new

    def history(self) -> list[RoutingState]:
        """See `mrbatch.ports.RoutingControl.history`."""
        with self._lock:
            return list(self._history)
