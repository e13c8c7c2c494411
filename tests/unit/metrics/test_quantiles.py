"""Nearest-rank percentiles: observed values, the rank rounded up, nothing for no data."""

from __future__ import annotations

from mrbatch.metrics.quantiles import percentiles


def test_percentiles_are_nearest_rank_values_of_a_hundred_latencies() -> None:
    latencies = [float(n) for n in range(100, 0, -1)]  # 100.0 .. 1.0, unsorted
    assert percentiles(latencies) == {"p50": 50.0, "p90": 90.0, "p99": 99.0}


def test_percentiles_round_the_rank_up_when_the_sample_is_small() -> None:
    assert percentiles([3.0, 1.0, 2.0]) == {"p50": 2.0, "p90": 3.0, "p99": 3.0}
    assert percentiles([7.5]) == {"p50": 7.5, "p90": 7.5, "p99": 7.5}


def test_percentiles_are_empty_when_nothing_was_delivered() -> None:
    assert percentiles([]) == {}
