"""The Prometheus text exposition of a stack's metrics (`GET /metrics`).

Built at scrape time from what is stored (counter totals, executions read from the
workflow databases, gauges sampled now), so a scrape always agrees with `mrbatch status`
and nothing is kept in process memory that a restart would lose. `prometheus_client`
writes the format; names follow its conventions: `InputFilesSplit` becomes
`mrbatch_input_files_split_total`, labelled by region and the point's dimensions.

Example:
    >>> snapshot = Snapshot(counters=[Counter("InputFilesSplit", "us-east-1", {}, 2.0)])
    >>> b"mrbatch_input_files_split_total" in exposition(snapshot)
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mrbatch.metrics.executions import DURATION_BUCKETS, ExecutionStats

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Snapshot", "exposition", "metric_name"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Counter:
    """A counter's total for one region and set of dimensions."""

    name: str
    region: str
    dimensions: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Gauge:
    """A value as it is now (a backlog, the active region), with its labels."""

    name: str
    help: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Snapshot:
    """Everything one scrape exposes."""

    counters: list[Counter] = field(default_factory=list)
    executions: dict[str, ExecutionStats] = field(default_factory=dict)  # per region
    gauges: list[Gauge] = field(default_factory=list)


def metric_name(name: str) -> str:
    """`InputFilesSplit` -> `mrbatch_input_files_split` (Prometheus' snake case)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return "mrbatch_" + re.sub(r"[^a-z0-9_]", "_", snake)


def _label(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key) or "_"


def _counters(counters: list[Counter]) -> Iterator[Metric]:
    """One family per name; labels are the union of its points' dimension keys."""
    by_name: dict[str, list[Counter]] = {}
    for counter in counters:
        by_name.setdefault(counter.name, []).append(counter)
    for name, items in sorted(by_name.items()):
        keys = sorted({k for c in items for k in c.dimensions} - {"region"})
        family = CounterMetricFamily(
            metric_name(name), f"{name} (mrbatch metric)", labels=["region", *map(_label, keys)]
        )
        for c in items:
            family.add_metric([c.region, *(c.dimensions.get(k, "") for k in keys)], c.value)
        yield family


def _executions(per_region: dict[str, ExecutionStats]) -> Iterator[Metric]:
    labels = ["region", "state_machine"]
    started = CounterMetricFamily(
        "mrbatch_executions_started", "Workflow executions started", labels=labels
    )
    ended = CounterMetricFamily(
        "mrbatch_executions_ended",
        "Workflow executions ended, by status (succeeded, failed, aborted, timed_out)",
        labels=[*labels, "status"],
    )
    durations = HistogramMetricFamily(
        "mrbatch_execution_duration_seconds", "Duration of ended executions", labels=labels
    )
    for region, stats in sorted(per_region.items()):
        for machine, n in sorted(stats.started.items()):
            started.add_metric([region, machine], n)
        for (machine, metric), n in sorted(stats.ended.items()):
            status = metric_name(metric.removeprefix("Executions")).removeprefix("mrbatch_")
            ended.add_metric([region, machine, status], n)
        for machine, values in sorted(stats.durations.items()):
            cumulative = [(str(b), float(sum(v <= b for v in values))) for b in DURATION_BUCKETS]
            cumulative.append(("+Inf", float(len(values))))
            durations.add_metric([region, machine], cumulative, sum_value=sum(values))
    yield from (started, ended, durations)


def _gauges(gauges: list[Gauge]) -> Iterator[Metric]:
    by_name: dict[str, list[Gauge]] = {}
    for gauge in gauges:
        by_name.setdefault(gauge.name, []).append(gauge)
    for name, items in sorted(by_name.items()):
        keys = sorted({k for g in items for k in g.labels})
        family = GaugeMetricFamily(
            metric_name(name), items[0].help, labels=[_label(k) for k in keys]
        )
        for g in items:
            family.add_metric([g.labels.get(k, "") for k in keys], g.value)
        yield family


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from _counters(self._snapshot.counters)
        yield from _executions(self._snapshot.executions)
        yield from _gauges(self._snapshot.gauges)


def exposition(snapshot: Snapshot) -> bytes:
    """The snapshot in the Prometheus text format (version 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
