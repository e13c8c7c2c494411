"""Workflow execution metrics read from a region's workflow database.

Step Functions publishes ExecutionsStarted/Succeeded/Failed/Aborted/TimedOut and
ExecutionTime per state machine; the local engine keeps every execution in its SQLite
`executions` table, so these are read from there rather than counted twice. Read-only:
the engine owns the file and its schema (`mrbatch.asl.store`).

Example:
    >>> stats = execution_stats(Path("/nonexistent/workflows.db"))
    >>> stats.started
    {}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrbatch.state.db import query_read_only

__all__ = [
    "DURATION_BUCKETS",
    "STATUS_METRICS",
    "ExecutionStats",
    "execution_series",
    "execution_stats",
]

# engine status -> the CloudWatch metric counting executions that ended so
STATUS_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "ABORTED": "ExecutionsAborted",
    "TIMED_OUT": "ExecutionsTimedOut",
}
# upper bounds (seconds) of the execution-duration histogram's buckets
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass
class ExecutionStats:
    """Per state machine: executions started, ended by status, and ended durations."""

    started: dict[str, int] = field(default_factory=dict)
    ended: dict[tuple[str, str], int] = field(default_factory=dict)  # (machine, metric)
    durations: dict[str, list[float]] = field(default_factory=dict)


def _machine(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _rows(path: Path, sql: str, params: tuple[float, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query; none while the engine has not created the database."""
    return query_read_only(path, sql, params)


def execution_stats(path: Path) -> ExecutionStats:
    """Every execution in the workflow database at `path`, counted."""
    stats = ExecutionStats()
    rows = _rows(path, "SELECT state_machine_arn, status, start_date, stop_date FROM executions")
    for arn, status, start, stop in rows:
        machine = _machine(str(arn))
        stats.started[machine] = stats.started.get(machine, 0) + 1
        metric = STATUS_METRICS.get(str(status))
        if metric is None or stop is None:
            continue
        stats.ended[(machine, metric)] = stats.ended.get((machine, metric), 0) + 1
        stats.durations.setdefault(machine, []).append(float(stop) - float(start))
    return stats


def execution_series(
    path: Path, *, since: float, until: float, step: float
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(machine, metric) -> (bucket start, count) per `step` seconds in [since, until):
    ExecutionsStarted by start time, the ended metrics by stop time."""
    started = _rows(
        path,
        "SELECT state_machine_arn, 'ExecutionsStarted', CAST(start_date / ? AS INTEGER) * ?,"
        " COUNT(*) FROM executions WHERE start_date >= ? AND start_date < ? GROUP BY 1, 3",
        (step, step, since, until),
    )
    ended = _rows(
        path,
        "SELECT state_machine_arn, status, CAST(stop_date / ? AS INTEGER) * ?, COUNT(*)"
        " FROM executions WHERE stop_date >= ? AND stop_date < ? GROUP BY 1, 2, 3",
        (step, step, since, until),
    )
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for arn, status, bucket, n in [*started, *ended]:
        metric = (
            "ExecutionsStarted"
            if status == "ExecutionsStarted"
            else STATUS_METRICS.get(str(status))
        )
        if metric is None:
            continue
        key = (_machine(str(arn)), metric)
        series.setdefault(key, []).append((float(bucket), float(n)))
    for points in series.values():
        points.sort()
    return series
