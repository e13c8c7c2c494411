"""Metrics stores: counters per region, as CloudWatch would keep them, read back by the
dashboard, `/metrics` and `mrbatch status`.

`SqliteMetrics` keeps every point in one SQLite file that all processes of the local stack
open (each `count` is one short transaction); `MemoryMetrics` is the in-process fake.

Retention, as CloudWatch's: every point is kept as recorded for 24 hours (finer than the
10 s the dashboard draws), then summed into 5-minute buckets kept for 14 days, then
dropped (`compact`, run by every writer at most once a minute). Totals are therefore over
the last 14 days. Gauges (values sampled now, such as a replication backlog) live in
their own table and roll up by their maximum, since summing samples means nothing.

Example:
    >>> metrics = MemoryMetrics()
    >>> metrics.count("FilesSplit", region="us-east-1")
    >>> metrics.count("FilesSplit", 2, region="us-east-1", dimensions={"bucket": "b"})
    >>> metrics.total("FilesSplit")
    3.0
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mrbatch.errors import MrBatchError
from mrbatch.ports import MetricPoint
from mrbatch.state.db import SqliteDatabase

__all__ = ["MemoryMetrics", "MetricsError", "SqliteMetrics", "checked_point"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    region TEXT NOT NULL,
    timestamp REAL NOT NULL,
    dimensions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_name ON points (name, region);
CREATE INDEX IF NOT EXISTS points_time ON points (timestamp);
CREATE TABLE IF NOT EXISTS rollups (
    name TEXT NOT NULL, region TEXT NOT NULL, dimensions TEXT NOT NULL,
    bucket REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (name, region, dimensions, bucket)
);
CREATE TABLE IF NOT EXISTS gauges (
    name TEXT NOT NULL, region TEXT NOT NULL, dimensions TEXT NOT NULL,
    timestamp REAL NOT NULL, value REAL NOT NULL, rolled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS gauges_name ON gauges (name, region, timestamp);
"""

RAW_RETENTION_SECONDS = 24 * 3600
ROLLUP_STEP_SECONDS = 300
ROLLUP_RETENTION_SECONDS = 14 * 24 * 3600
_COMPACT_EVERY_SECONDS = 60.0

# Points older than the cutoff become 5-minute sums; `WHERE` before `ON CONFLICT` is
# required by SQLite's upsert grammar after a SELECT.
_ROLL_POINTS = f"""
INSERT INTO rollups (name, region, dimensions, bucket, value)
SELECT name, region, dimensions,
       CAST(timestamp / {ROLLUP_STEP_SECONDS} AS INTEGER) * {ROLLUP_STEP_SECONDS}, TOTAL(value)
FROM points WHERE timestamp < ? GROUP BY 1, 2, 3, 4
ON CONFLICT (name, region, dimensions, bucket) DO UPDATE SET value = value + excluded.value
"""
# Gauge samples older than the cutoff are replaced by one sample per 5 minutes (the max).
_ROLL_GAUGES = f"""
INSERT INTO gauges (name, region, dimensions, timestamp, value, rolled)
SELECT name, region, dimensions,
       CAST(timestamp / {ROLLUP_STEP_SECONDS} AS INTEGER) * {ROLLUP_STEP_SECONDS}, MAX(value), 1
FROM gauges WHERE timestamp < ? AND rolled = 0 GROUP BY 1, 2, 3, 4
"""


class MetricsError(MrBatchError):
    """A metric could not be recorded or read (bad name or value, store unavailable)."""


def checked_point(
    name: str, value: float, region: str, now: float, dims: Mapping[str, str] | None
) -> MetricPoint:
    """A validated point: names and dimensions are non-empty strings, values finite."""
    if not isinstance(name, str) or not name or not isinstance(region, str) or not region:
        raise MetricsError(
            f"metric name and region must be non-empty strings: {name!r}, {region!r}"
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MetricsError(f"metric {name!r}: value must be a finite number, got {value!r}")
    dimensions = dict(dims or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in dimensions.items()):
        raise MetricsError(f"metric {name!r}: dimensions must map strings to strings")
    return MetricPoint(name, float(value), region, now, dimensions)


class SqliteMetrics:
    """`Metrics` in the SQLite file `path`, shared by every process of the local stack."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._db = SqliteDatabase(path, error=MetricsError)
        self._compacted_at = -math.inf
        with self._db.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def count(
        self,
        name: str,
        value: float = 1.0,
        *,
        region: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """See `mrbatch.ports.Metrics.count`."""
        point = checked_point(name, value, region, self._clock(), dimensions)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO points (name, value, region, timestamp, dimensions) "
                "VALUES (?, ?, ?, ?, ?)",
                (point.name, point.value, point.region, point.timestamp, _dims(point)),
            )
        self._maybe_compact(point.timestamp)

    def gauge(
        self, name: str, value: float, *, region: str, dimensions: Mapping[str, str] | None = None
    ) -> None:
        """Record a sampled value (a backlog, a lag) now; read back by `gauge_series`."""
        point = checked_point(name, value, region, self._clock(), dimensions)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO gauges (name, region, dimensions, timestamp, value) "
                "VALUES (?, ?, ?, ?, ?)",
                (point.name, point.region, _dims(point), point.timestamp, point.value),
            )
        self._maybe_compact(point.timestamp)

    def points(self, name: str | None = None, *, region: str | None = None) -> list[MetricPoint]:
        """See `mrbatch.ports.Metrics.points`: 5-minute sums of points older than a day
        (at their bucket's start), then the recent points in recording order."""
        where, params = _filter(name, region)
        with self._db.reading() as conn:
            rolled = conn.execute(
                f"SELECT name, value, region, bucket, dimensions FROM rollups{where} "
                "ORDER BY bucket, name, region, dimensions",
                params,
            ).fetchall()
            rows = conn.execute(
                f"SELECT name, value, region, timestamp, dimensions FROM points{where} ORDER BY id",
                params,
            ).fetchall()
        return [MetricPoint(n, v, r, t, json.loads(d)) for n, v, r, t, d in [*rolled, *rows]]

    def total(self, name: str, *, region: str | None = None) -> float:
        """See `mrbatch.ports.Metrics.total` (over the retained 14 days)."""
        where, params = _filter(name, region)
        with self._db.reading() as conn:
            recent = conn.execute(f"SELECT TOTAL(value) FROM points{where}", params).fetchone()
            old = conn.execute(f"SELECT TOTAL(value) FROM rollups{where}", params).fetchone()
        return float(recent[0]) + float(old[0])

    def totals(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Every counter's total per (name, region, dimensions), for the `/metrics` scrape."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT name, region, dimensions, TOTAL(value) FROM ("
                " SELECT name, region, dimensions, value FROM points"
                " UNION ALL SELECT name, region, dimensions, value FROM rollups"
                ") GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ).fetchall()
        return [(n, r, json.loads(d), float(v)) for n, r, d, v in rows]

    def series(
        self, name: str, *, region: str, since: float, until: float, step: float
    ) -> list[tuple[float, float]]:
        """Sums of `name` in `region` per `step` seconds in [since, until), as
        (bucket start, sum) pairs for the buckets that have points, oldest first."""
        params = (step, step, name, region, since, until)
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT CAST(t / ? AS INTEGER) * ?, TOTAL(v) FROM ("
                " SELECT timestamp AS t, value AS v, name, region FROM points"
                " UNION ALL SELECT bucket, value, name, region FROM rollups"
                ") WHERE name = ? AND region = ? AND t >= ? AND t < ? GROUP BY 1 ORDER BY 1",
                params,
            ).fetchall()
        return [(float(t), float(v)) for t, v in rows]

    def gauge_series(
        self, name: str, *, region: str, since: float, until: float, step: float
    ) -> list[tuple[float, float]]:
        """The largest sample of gauge `name` per `step` seconds, oldest first."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT CAST(timestamp / ? AS INTEGER) * ?, MAX(value) FROM gauges"
                " WHERE name = ? AND region = ? AND timestamp >= ? AND timestamp < ?"
                " GROUP BY 1 ORDER BY 1",
                (step, step, name, region, since, until),
            ).fetchall()
        return [(float(t), float(v)) for t, v in rows]

    def compact(self, now: float | None = None) -> None:
        """Apply the retention: points older than 24 h become 5-minute sums (gauge samples
        their 5-minute maximum), and whatever is older than 14 days is dropped. Idempotent;
        one transaction, so concurrent writers never see a point counted twice or lost."""
        now = self._clock() if now is None else now
        cutoff = (now - RAW_RETENTION_SECONDS) // ROLLUP_STEP_SECONDS * ROLLUP_STEP_SECONDS
        with self._db.transaction() as conn:
            conn.execute(_ROLL_POINTS, (cutoff,))
            conn.execute("DELETE FROM points WHERE timestamp < ?", (cutoff,))
            conn.execute(_ROLL_GAUGES, (cutoff,))
            conn.execute("DELETE FROM gauges WHERE timestamp < ? AND rolled = 0", (cutoff,))
            oldest = now - ROLLUP_RETENTION_SECONDS
            conn.execute("DELETE FROM rollups WHERE bucket < ?", (oldest,))
            conn.execute("DELETE FROM gauges WHERE timestamp < ?", (oldest,))

    def _maybe_compact(self, now: float) -> None:
        """Compact at most once a minute per instance, so writers keep the file bounded."""
        if now - self._compacted_at >= _COMPACT_EVERY_SECONDS:
            self._compacted_at = now
            self.compact(now)

    def close(self) -> None:
        """Close the store."""
        self._db.close()


def _dims(point: MetricPoint) -> str:
    return json.dumps(dict(point.dimensions), sort_keys=True)


def _filter(name: str | None, region: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses, params = [], []
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    if region is not None:
        clauses.append("region = ?")
        params.append(region)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


class MemoryMetrics:
    """`Metrics` in memory (one process), for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()

    def count(
        self,
        name: str,
        value: float = 1.0,
        *,
        region: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """See `mrbatch.ports.Metrics.count`."""
        point = checked_point(name, value, region, self._clock(), dimensions)
        with self._lock:
            self._points.append(point)

    def points(self, name: str | None = None, *, region: str | None = None) -> list[MetricPoint]:
        """See `mrbatch.ports.Metrics.points`."""
        with self._lock:
            return [
                p
                for p in self._points
                if (name is None or p.name == name) and (region is None or p.region == region)
            ]

    def total(self, name: str, *, region: str | None = None) -> float:
        """See `mrbatch.ports.Metrics.total`."""
        return float(sum(p.value for p in self.points(name, region=region)))
