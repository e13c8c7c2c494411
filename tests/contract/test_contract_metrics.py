"""The Metrics contract: memory, SQLite and EMF lines must pass every test."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from mrbatch.errors import MrBatchError
from mrbatch.ports import MetricPoint, Metrics


class TickClock:
    """Returns 1000.0, 1001.0, ... one second later on each call."""

    def __init__(self) -> None:
        self.now = 999.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def metrics(metrics_factory: Callable[..., Metrics]) -> Metrics:
    return metrics_factory(TickClock())


def test_points_are_recorded_in_order_with_exact_values(metrics: Metrics) -> None:
    metrics.count("FilesSplit", region="us-east-1")
    metrics.count("ChunksProcessed", 4, region="us-west-2", dimensions={"file": "a.csv"})
    assert metrics.points() == [
        MetricPoint("FilesSplit", 1.0, "us-east-1", 1000.0, {}),
        MetricPoint("ChunksProcessed", 4.0, "us-west-2", 1001.0, {"file": "a.csv"}),
    ]


def test_points_filter_by_name_and_region(metrics: Metrics) -> None:
    metrics.count("A", region="r1")
    metrics.count("A", 2, region="r2")
    metrics.count("B", 3, region="r1")
    assert [(p.name, p.value, p.region) for p in metrics.points("A")] == [
        ("A", 1.0, "r1"),
        ("A", 2.0, "r2"),
    ]
    assert [(p.name, p.region) for p in metrics.points(region="r1")] == [("A", "r1"), ("B", "r1")]
    assert [p.value for p in metrics.points("A", region="r2")] == [2.0]
    assert metrics.points("missing") == []


def test_total_sums_values(metrics: Metrics) -> None:
    metrics.count("A", 1.5, region="r1")
    metrics.count("A", 2, region="r2")
    metrics.count("B", 10, region="r1")
    assert metrics.total("A") == 3.5
    assert metrics.total("A", region="r2") == 2.0
    assert metrics.total("nothing") == 0.0


@pytest.mark.parametrize(
    ("name", "value", "region"),
    [("", 1, "r"), ("A", float("nan"), "r"), ("A", "3", "r"), ("A", 1, ""), ("A", True, "r")],
    ids=repr,
)
def test_bad_points_are_refused(metrics: Metrics, name: str, value: float, region: str) -> None:
    with pytest.raises(MrBatchError):
        metrics.count(name, value, region=region)
    assert metrics.points() == []


def test_counts_from_threads_are_all_kept(metrics: Metrics) -> None:
    def record() -> None:
        for _ in range(50):
            metrics.count("Hits", region="r1")

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.total("Hits") == 200.0
    assert len(metrics.points("Hits")) == 200
