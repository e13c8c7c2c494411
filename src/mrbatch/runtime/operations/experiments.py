"""The record of chaos experiments (`StackConfig.chaos_db`): what was broken, where, from
when until when. Written by `mrbatch chaos` (`mrbatch.runtime.operations.chaos`), read by
`mrbatch chaos list` and the dashboard; kept apart from the experiments themselves so that
the dashboard reads it without importing the services.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from mrbatch.runtime.config import StackConfig
from mrbatch.state.db import SqliteDatabase

__all__ = ["ChaosLog", "Experiment"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    started_at REAL NOT NULL,
    ends_at REAL,
    ended_at REAL
)
"""


@dataclass(frozen=True)
class Experiment:
    """One recorded experiment: `ends_at` is when it is planned to end (None: until told),
    `ended_at` when it did (None: not yet, or it ends by itself at `ends_at`)."""

    id: int
    kind: str
    target: str
    detail: str
    started_at: float
    ends_at: float | None = None
    ended_at: float | None = None

    def in_force(self, now: float) -> bool:
        end = self.ended_at if self.ended_at is not None else self.ends_at
        return end is None or now < end

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {**self.__dict__, "in_force": self.in_force(now)}


class ChaosLog:
    """The experiments of one stack, in SQLite (`StackConfig.chaos_db`)."""

    def __init__(self, config: StackConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._db = SqliteDatabase(config.chaos_db)
        self._clock = clock
        with self._db.transaction() as db:
            db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def begin(
        self, kind: str, target: str, detail: str = "", *, duration: float | None = None
    ) -> Experiment:
        """Record an experiment starting now (planned to last `duration` seconds)."""
        now = self._clock()
        ends_at = None if duration is None else now + duration
        with self._db.transaction() as db:
            cursor = db.execute(
                "INSERT INTO experiments (kind, target, detail, started_at, ends_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, target, detail, now, ends_at),
            )
        assert cursor.lastrowid is not None
        return Experiment(cursor.lastrowid, kind, target, detail, now, ends_at)

    def end(self, experiment: Experiment) -> Experiment:
        """Record that `experiment` ended now."""
        now = self._clock()
        with self._db.transaction() as db:
            db.execute("UPDATE experiments SET ended_at = ? WHERE id = ?", (now, experiment.id))
        return replace(experiment, ended_at=now)

    def end_ids(self, ids: Iterable[int]) -> list[Experiment]:
        """Record that the experiments `ids` ended now; returns them, ended."""
        now, wanted = self._clock(), sorted(set(ids))
        with self._db.transaction() as db:
            db.executemany("UPDATE experiments SET ended_at = ? WHERE id = ?",
                           [(now, i) for i in wanted])  # fmt: skip
            rows = db.execute(
                "SELECT id, kind, target, detail, started_at, ends_at, ended_at FROM experiments"
                f" WHERE id IN ({','.join('?' * len(wanted))})",
                wanted,
            ).fetchall()
        return [Experiment(*row) for row in rows]

    def end_open(self, kind: str) -> None:
        """End every experiment of `kind` that has no end (a replication delay set again)."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE experiments SET ended_at = ? WHERE kind = ? AND ended_at IS NULL"
                " AND ends_at IS NULL",
                (self._clock(), kind),
            )

    def experiments(self, limit: int = 100) -> list[Experiment]:
        """The latest experiments, newest first."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT id, kind, target, detail, started_at, ends_at, ended_at"
                " FROM experiments ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Experiment(*row) for row in rows]
