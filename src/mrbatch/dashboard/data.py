"""What the dashboard and `/metrics` show, read from the stack's data directory.

Everything is read at request time from the files the stack's processes own (metrics,
routing control, tables, workflow databases, replicator status, runbook log, mail
folder), read-only, so the page can never disagree with `mrbatch status` and serving it
changes nothing.
"""

from __future__ import annotations

import email.policy
import heapq
import threading
import time
from collections import Counter as Tally
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from mrbatch.dashboard.rulecounts import RuleCounts
from mrbatch.metrics.executions import execution_series, execution_stats
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.metrics.prometheus import Counter, Gauge, Snapshot
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.experiments import ChaosLog
from mrbatch.runtime.operations.runbook import RunbookLog
from mrbatch.runtime.operations.stackinfo import METRIC_NAMES
from mrbatch.runtime.services.replicator import read_replication_status
from mrbatch.runtime.wiring import open_routing, open_tables

__all__ = ["COUNTERS", "RANGES", "StackView"]

# the AWS sample dashboard's per-region graphs that come from counters
COUNTERS = METRIC_NAMES
# selectable ranges (seconds) -> the step of their graphs (about 100 points each)
RANGES = {900: 10, 3600: 30, 86400: 900}
_RECENT_EMAILS = 10
_RECENT_RUNBOOKS = 5
_RECENT_EXPERIMENTS = 10
_RECENT_FILES = 20


def _region_tables(
    config: StackConfig, region: str, rules: RuleCounts
) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
    """Files per status, invalid rows per rule (from the region's kept-up-to-date summary,
    not a read of the whole error table) and the newest file versions in `region`."""
    tables = open_tables(config, region)
    try:
        items = list(tables.batch_state.scan())
        invalid = rules.refresh(tables.errors)
    finally:
        tables.close()
    files = Tally(str(i.get("status")) for i in items)
    newest = heapq.nlargest(_RECENT_FILES, items, key=lambda i: float(i.get("updated_at", 0)))
    return dict(files), invalid, [{**i, "table_region": region} for i in newest]


def _recent_files(newest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest file versions across both regions, newest first, each with its status
    as each region's table has it (they differ while replication catches up)."""
    merged: dict[str, dict[str, Any]] = {}
    for item in sorted(newest, key=lambda i: float(i.get("updated_at", 0))):
        row = merged.setdefault(str(item["file_id"]), {"statuses": {}})
        row["statuses"][item["table_region"]] = item.get("status")
        row.update(
            {k: item.get(k) for k in ("file_id", "key", "version_id", "region", "epoch")},
            updated_at=float(item.get("updated_at", 0)),
        )
    rows = sorted(merged.values(), key=lambda r: float(r["updated_at"]), reverse=True)
    return rows[:_RECENT_FILES]


def _region(
    config: StackConfig,
    metrics: SqliteMetrics,
    region: str,
    tallies: tuple[dict[str, int], dict[str, int]],
    window: tuple[float, float, int],
) -> dict[str, Any]:
    files, rules = tallies
    since, now, step = window
    series: dict[str, list[tuple[float, float]]] = {
        name: metrics.series(name, region=region, since=since, until=now + step, step=step)
        for name in COUNTERS
    }
    db = config.workflows_db(region)
    for (machine, metric), points in execution_series(
        db, since=since, until=now + step, step=step
    ).items():
        series[f"{machine}.{metric}"] = points
    stats = execution_stats(db)
    executions = {
        machine: {
            "started": started,
            **{m: n for (mm, m), n in stats.ended.items() if mm == machine},
        }
        for machine, started in sorted(stats.started.items())
    }
    return {
        "files": files,
        "invalid_rows": rules,
        "totals": {name: metrics.total(name, region=region) for name in COUNTERS},
        "executions": executions,
        "series": series,
    }


def _replication(
    config: StackConfig, metrics: SqliteMetrics, since: float, now: float, step: int
) -> dict[str, Any]:
    status = read_replication_status(config)
    directions = status.get("directions", {})
    series = {
        key: {
            name: metrics.gauge_series(name, region=key, since=since, until=now + step, step=step)
            for name in _SAMPLED.values()
        }
        for key in directions
    }
    return {"updated_at": status.get("updated_at"), "directions": directions, "series": series}


def _emails(config: StackConfig) -> list[dict[str, str]]:
    """The newest emails (file names sort by arrival), newest first, without bodies."""
    folder = config.mail_dir
    paths = sorted(folder.glob("[0-9]*.eml"))[-_RECENT_EMAILS:] if folder.is_dir() else []
    parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
    messages = [parser.parsebytes(p.read_bytes()) for p in reversed(paths)]
    return [
        {"date": str(m["Date"]), "to": str(m["To"]), "subject": str(m["Subject"])} for m in messages
    ]


def _experiments(config: StackConfig, now: float) -> list[dict[str, Any]]:
    """The newest chaos experiments (`mrbatch chaos`), newest first, with whether each is
    still in force."""
    log = ChaosLog(config)
    try:
        return [e.as_dict(now) for e in log.experiments(_RECENT_EXPERIMENTS)]
    finally:
        log.close()


def _replication_gauges(config: StackConfig) -> list[Gauge]:
    """The replicator's last status as gauges, labelled by direction (and table)."""
    gauges = []
    for key, direction in read_replication_status(config).get("directions", {}).items():
        labels = {"source": direction["source"], "destination": direction["destination"]}
        objects = direction.get("objects", {})
        for field, name in _OBJECT_GAUGES.items():
            if isinstance(objects.get(field), int | float):
                gauges.append(Gauge(name, f"replication {field} ({key})", labels, objects[field]))
        for quantile, field in _LATENCY_QUANTILES.items():
            if isinstance(objects.get(field), int | float):
                help_ = "replication latency percentiles over the newest objects replicated"
                value = float(objects[field])
                quantile_labels = {**labels, "quantile": quantile}
                gauges.append(Gauge("ReplicationLatencySeconds", help_, quantile_labels, value))
        for table, status in direction.get("tables", {}).items():
            for field, name in _TABLE_GAUGES.items():
                if isinstance(status.get(field), int | float):
                    value = float(status[field])
                    gauges.append(
                        Gauge(name, f"table replication {field}", {**labels, "table": table}, value)
                    )
    return gauges


_OBJECT_GAUGES = {
    "operations_pending": "ReplicationOperationsPending",
    "bytes_pending": "ReplicationBytesPending",
    "oldest_pending_age_seconds": "ReplicationOldestPendingAgeSeconds",
    "late": "ReplicationOperationsOverSLA",
    "replicated": "ReplicationOperationsReplicated",
    "worst_latency_seconds": "ReplicationLatencyMaxSeconds",
}
# what the gateway samples into the metrics store every 10 s (the dashboard's graphs)
_SAMPLED = {
    "operations_pending": "ReplicationOperationsPending",
    "worst_latency_seconds": "ReplicationLatency",
    "latency_p50_seconds": "ReplicationLatencyP50",
    "latency_p99_seconds": "ReplicationLatencyP99",
}
# the replicator's percentiles, exposed as one gauge labelled by quantile (as a summary)
_LATENCY_QUANTILES = {
    "0.5": "latency_p50_seconds",
    "0.9": "latency_p90_seconds",
    "0.99": "latency_p99_seconds",
}
_TABLE_GAUGES = {
    "items_pending": "TableReplicationItemsPending",
    "oldest_pending_age_seconds": "TableReplicationOldestPendingAgeSeconds",
    "last_lag_seconds": "TableReplicationLagSeconds",
    "worst_lag_seconds": "TableReplicationLagMaxSeconds",
}


class StackView:
    """Read-only views of one stack, holding its metrics and routing databases open."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._metrics = SqliteMetrics(config.metrics_db)
        self._routing = open_routing(config)
        self._rules = {region: RuleCounts() for region in config.regions}
        # the gateway serves requests from a thread pool: one refresh of a summary at a time
        self._rules_lock = threading.Lock()

    def overview(self, range_seconds: int, *, now: float | None = None) -> dict[str, Any]:
        """The overview page's data for the last `range_seconds` (one of `RANGES`)."""
        config, step = self.config, RANGES[range_seconds]
        now = time.time() if now is None else now
        since = (now - range_seconds) // step * step
        state = self._routing.state()
        with self._rules_lock:
            read = {r: _region_tables(config, r, self._rules[r]) for r in config.regions}
        return {
            "now": now,
            "range": range_seconds,
            "step": step,
            "since": since,
            "routing": {
                "active_region": state.active_region,
                "epoch": state.epoch,
                "changed_at": state.changed_at,
                "reason": state.reason,
            },
            "regions": {
                r: _region(config, self._metrics, r, read[r][:2], (since, now, step))
                for r in config.regions
            },
            "files": _recent_files([item for r in config.regions for item in read[r][2]]),
            "replication": _replication(config, self._metrics, since, now, step),
            "runbooks": RunbookLog(config).executions()[:_RECENT_RUNBOOKS],
            "chaos": _experiments(config, now),
            "emails": _emails(config),
        }

    def record_replication_gauges(self) -> None:
        """Sample the replication backlog and latency into the metrics store (the
        dashboard's graphs), keyed by direction `"<source>-><destination>"` as region."""
        status = read_replication_status(self.config)
        for key, direction in status.get("directions", {}).items():
            objects = direction.get("objects", {})
            for field, name in _SAMPLED.items():
                if isinstance(objects.get(field), int | float):
                    self._metrics.gauge(name, objects[field], region=key)

    def prometheus_snapshot(self) -> Snapshot:
        """What `/metrics` exposes: counters, executions, routing and replication gauges."""
        config = self.config
        counters = [Counter(n, r, d, v) for n, r, d, v in self._metrics.totals()]
        state = self._routing.state()
        gauges = [
            Gauge(
                "ActiveRegion",
                "1 for the active region, 0 for the standby",
                {"region": r},
                float(r == state.active_region),
            )
            for r in config.regions
        ]
        gauges.append(Gauge("RoutingEpoch", "the routing control's epoch", {}, float(state.epoch)))
        gauges.extend(_replication_gauges(config))
        return Snapshot(
            counters=counters,
            executions={r: execution_stats(config.workflows_db(r)) for r in config.regions},
            gauges=gauges,
        )

    def close(self) -> None:
        self._metrics.close()
        self._routing.close()
