"""SqliteMetrics keeps points for a day, 5-minute sums for 14 days, then nothing."""

from __future__ import annotations

from pathlib import Path

from mrbatch.metrics.local import SqliteMetrics

DAY = 24 * 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_points_older_than_a_day_become_five_minute_sums_when_compacted(tmp_path: Path) -> None:
    clock = Clock(1_000_020.0)
    metrics = SqliteMetrics(tmp_path / "m.db", clock=clock)
    for offset in (0.0, 30.0, 290.0):  # one 5-minute bucket starting at 1_000_200
        clock.now = 1_000_200.0 + offset
        metrics.count("ProcessedFiles", 2, region="us-east-1")
    clock.now = 1_000_200.0 + 600
    metrics.count("ProcessedFiles", 5, region="us-east-1")  # a later bucket
    metrics.compact(now=1_000_200.0 + 300 + DAY)
    points = [(p.timestamp, p.value) for p in metrics.points("ProcessedFiles")]
    assert points == [(1_000_200.0, 6.0), (1_000_800.0, 5.0)]
    assert metrics.total("ProcessedFiles", region="us-east-1") == 11.0


def test_compacting_twice_counts_nothing_twice(tmp_path: Path) -> None:
    metrics = SqliteMetrics(tmp_path / "m.db", clock=Clock(3_000_000.0))
    metrics.count("InputFilesSplit", region="us-west-2")
    metrics.compact(now=3_000_000.0 + 2 * DAY)
    metrics.compact(now=3_000_000.0 + 2 * DAY + 1)
    assert metrics.total("InputFilesSplit") == 1.0
    assert len(metrics.points("InputFilesSplit")) == 1


def test_sums_older_than_fourteen_days_are_dropped(tmp_path: Path) -> None:
    metrics = SqliteMetrics(tmp_path / "m.db", clock=Clock(3_000_000.0))
    metrics.count("ReconciledFiles", 3, region="us-east-1")
    metrics.compact(now=3_000_000.0 + 2 * DAY)
    assert metrics.total("ReconciledFiles") == 3.0
    metrics.compact(now=3_000_000.0 + 15 * DAY)
    assert metrics.total("ReconciledFiles") == 0.0
    assert metrics.points() == []


def test_recording_compacts_old_points_by_itself(tmp_path: Path) -> None:
    clock = Clock(5_000_000.0)
    metrics = SqliteMetrics(tmp_path / "m.db", clock=clock)
    metrics.count("EmailSent", region="us-east-1")
    clock.now += 2 * DAY
    metrics.count("EmailSent", region="us-east-1")
    stamps = [p.timestamp for p in metrics.points("EmailSent")]
    assert stamps == [4_999_800.0, 5_000_000.0 + 2 * DAY]  # the first is now a bucket


def test_series_sums_per_step_over_points_and_rollups(tmp_path: Path) -> None:
    clock = Clock(0.0)
    metrics = SqliteMetrics(tmp_path / "m.db", clock=clock)
    for t, value in ((100.0, 1), (105.0, 2), (112.0, 4), (200.0, 8)):
        clock.now = t
        metrics.count("ProcessedFiles", value, region="us-east-1")
    clock.now = 101.0
    metrics.count("ProcessedFiles", 100, region="us-west-2")  # other region: not summed
    series = metrics.series("ProcessedFiles", region="us-east-1", since=100, until=200, step=10)
    assert series == [(100.0, 3.0), (110.0, 4.0)]


def test_gauges_keep_their_maximum_per_step_and_when_rolled_up(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    metrics = SqliteMetrics(tmp_path / "m.db", clock=clock)
    for offset, value in ((0.0, 3.0), (4.0, 9.0), (12.0, 1.0)):
        clock.now = 1_000_000.0 + offset
        metrics.gauge("ReplicationOperationsPending", value, region="us-east-1")
    kwargs = {"region": "us-east-1", "since": 1_000_000.0, "until": 1_000_100.0}
    assert metrics.gauge_series("ReplicationOperationsPending", step=10, **kwargs) == [
        (1_000_000.0, 9.0),
        (1_000_010.0, 1.0),
    ]
    metrics.compact(now=1_000_000.0 + 2 * DAY)
    kwargs["since"] = 999_900.0  # the 5-minute bucket holding the samples starts here
    assert metrics.gauge_series("ReplicationOperationsPending", step=300, **kwargs) == [
        (999_900.0, 9.0)
    ]


def test_totals_group_by_name_region_and_dimensions(tmp_path: Path) -> None:
    metrics = SqliteMetrics(tmp_path / "m.db", clock=Clock(1000.0))
    metrics.count("RegionalFailover", region="us-west-2", dimensions={"kind": "failover"})
    metrics.count("RegionalFailover", region="us-west-2", dimensions={"kind": "failover"})
    metrics.count("RegionalFailover", region="us-east-1", dimensions={"kind": "failback"})
    assert metrics.totals() == [
        ("RegionalFailover", "us-east-1", {"kind": "failback"}, 1.0),
        ("RegionalFailover", "us-west-2", {"kind": "failover"}, 2.0),
    ]
