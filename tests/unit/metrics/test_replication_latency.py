"""The replicator's status reports replication latency percentiles per direction, over
the newest deliveries, and they reach /metrics as gauges labelled by quantile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mrbatch.dashboard.data import StackView
from mrbatch.metrics.prometheus import exposition
from mrbatch.metrics.quantiles import LATENCY_SAMPLE
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.replication.changefeed import Change
from mrbatch.runtime.services.replicator import Direction, ReplicatorLoop, open_directions


def _deliver(direction: Direction, latencies: list[float]) -> None:
    """Record deliveries of `direction` that took `latencies` seconds, oldest first."""
    assert direction.feed is not None
    now = time.time()
    for seq, latency in enumerate(latencies, start=1):
        change = Change(seq, f"input/{seq}.csv", f"v{seq}", "etag", 1, False, now - latency)
        direction.feed.record_delivery(direction.objects.consumer, change)


def test_status_reports_latency_percentiles_of_the_newest_deliveries(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    with open_directions(config) as directions:
        east_west = directions[0]
        assert "latency_p50_seconds" not in east_west.status(False)["objects"]  # none yet
        old = [1000.0] * 50  # older than the sample: they no longer count
        _deliver(east_west, old + [float(n) for n in range(1, LATENCY_SAMPLE + 1)])
        objects = east_west.status(False)["objects"]
        other = directions[1].status(False)["objects"]
    assert objects["latency_p50_seconds"] == pytest.approx(LATENCY_SAMPLE * 0.5, abs=1.0)
    assert objects["latency_p90_seconds"] == pytest.approx(LATENCY_SAMPLE * 0.9, abs=1.0)
    assert objects["latency_p99_seconds"] == pytest.approx(LATENCY_SAMPLE * 0.99, abs=1.0)
    assert objects["worst_latency_seconds"] == pytest.approx(1000.0, abs=1.0)
    assert "latency_p50_seconds" not in other  # the other direction delivered nothing


def test_metrics_expose_latency_percentiles_and_table_lag_per_direction(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    with open_directions(config) as directions:
        _deliver(directions[0], [2.0, 4.0, 6.0, 8.0])
        ReplicatorLoop(config, directions).publish({d.key: False for d in directions})
    view = StackView(config)
    try:
        text = exposition(view.prometheus_snapshot()).decode()
    finally:
        view.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    direction = {"source": "us-east-1", "destination": "us-west-2"}

    def sample(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({**direction, **labels}.items())))]

    latency = "mrbatch_replication_latency_seconds"
    assert sample(latency, quantile="0.5") == pytest.approx(4.0, abs=0.5)
    assert sample(latency, quantile="0.9") == pytest.approx(8.0, abs=0.5)
    assert sample(latency, quantile="0.99") == pytest.approx(8.0, abs=0.5)
    lag = "mrbatch_table_replication_oldest_pending_age_seconds"
    assert sample(lag, table="batch_state") == 0.0
