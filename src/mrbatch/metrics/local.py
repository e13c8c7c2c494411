"""Metrics stores: counters per region, as CloudWatch would keep them, read back by the
dashboard and `mrbatch status`.

`SqliteMetrics` keeps every point in one SQLite file that all processes of the local stack
open (each `count` is one short transaction); `MemoryMetrics` is the in-process fake.

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

__all__ = ["MemoryMetrics", "MetricsError", "SqliteMetrics"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    region TEXT NOT NULL,
    timestamp REAL NOT NULL,
    dimensions TEXT NOT NULL
)
"""


class MetricsError(MrBatchError):
    """A metric could not be recorded or read (bad name or value, store unavailable)."""


def _point(
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
        with self._db.transaction() as conn:
            conn.execute(_SCHEMA)
            conn.execute("CREATE INDEX IF NOT EXISTS points_name ON points (name, region)")

    def count(
        self,
        name: str,
        value: float = 1.0,
        *,
        region: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """See `mrbatch.ports.Metrics.count`."""
        point = _point(name, value, region, self._clock(), dimensions)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO points (name, value, region, timestamp, dimensions) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    point.name,
                    point.value,
                    point.region,
                    point.timestamp,
                    json.dumps(dict(point.dimensions), sort_keys=True),
                ),
            )

    def points(self, name: str | None = None, *, region: str | None = None) -> list[MetricPoint]:
        """See `mrbatch.ports.Metrics.points` (in recording order)."""
        where, params = _filter(name, region)
        with self._db.reading() as conn:
            rows = conn.execute(
                f"SELECT name, value, region, timestamp, dimensions FROM points{where} ORDER BY id",
                params,
            ).fetchall()
        return [MetricPoint(n, v, r, t, json.loads(d)) for n, v, r, t, d in rows]

    def total(self, name: str, *, region: str | None = None) -> float:
        """See `mrbatch.ports.Metrics.total`."""
        where, params = _filter(name, region)
        with self._db.reading() as conn:
            row = conn.execute(f"SELECT TOTAL(value) FROM points{where}", params).fetchone()
        return float(row[0])

    def close(self) -> None:
        """Close the store."""
        self._db.close()


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
        point = _point(name, value, region, self._clock(), dimensions)
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
