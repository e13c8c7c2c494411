"""Fault schedules as text, torture plans drawn from a seed, and the load test's
percentiles: the parts of chaos testing that must be exact to be replayable."""

from __future__ import annotations

import pytest

from mrbatch.errors import ConfigError
from mrbatch.runtime.operations.loadtest import percentile
from mrbatch.runtime.operations.schedule import Fault, format_schedule, parse_schedule
from mrbatch.runtime.operations.torture import plan_schedule, schedule_seeds


def test_a_schedule_parses_in_time_order_and_prints_back() -> None:
    text = "4:block:us-east-1:smtp:3:timeout,2:kill:us-east-1:main,0.5:failover"
    faults = parse_schedule(text)
    assert faults == [
        Fault(0.5, "failover"),
        Fault(2, "kill", ("us-east-1", "main")),
        Fault(4, "block", ("us-east-1", "smtp", "3", "timeout")),
    ]
    assert parse_schedule(format_schedule(faults)) == faults
    assert parse_schedule("") == []


@pytest.mark.parametrize(
    "entry", ["x:kill:us-east-1", "-1:failover", "2:explode", "2:kill", "2:failover:now"]
)
def test_a_bad_schedule_entry_is_refused(entry: str) -> None:
    with pytest.raises(ConfigError, match="bad chaos schedule entry"):
        parse_schedule(f"1:failover,{entry}")


def test_a_torture_run_is_the_same_for_the_same_seed() -> None:
    assert schedule_seeds(7, 5) == schedule_seeds(7, 5)
    assert schedule_seeds(7, 5) != schedule_seeds(8, 5)
    plans = [plan_schedule(s, files=4, rows=50) for s in schedule_seeds(7, 20)]
    assert plans == [plan_schedule(s, files=4, rows=50) for s in schedule_seeds(7, 20)]
    for plan in plans:
        assert 2 <= len(plan.faults) <= 5
        assert all(0 <= f.at <= 4 for f in plan.faults)
        assert [f.at for f in plan.faults] == sorted(f.at for f in plan.faults)
        assert parse_schedule(format_schedule(list(plan.faults))) == list(plan.faults)
    assert {p.auto_failover for p in plans} == {True, False}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (
        50.0,
        90.0,
        99.0,
    )
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None
