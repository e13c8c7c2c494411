"""The auto-failover decision: N consecutive failed checks of the active region."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.services.health import HealthCheck, HealthMonitor
from mrbatch.runtime.wiring import open_routing


class Script:
    """Answers checks from a list of healthy/unhealthy verdicts."""

    def __init__(self, verdicts: list[bool]) -> None:
        self.verdicts = verdicts
        self.regions: list[str] = []

    def __call__(self, config: StackConfig, region: str) -> HealthCheck:
        self.regions.append(region)
        return HealthCheck(region, () if self.verdicts.pop(0) else ("process not running",))


def test_fails_over_only_after_threshold_consecutive_failures(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    script = Script([False, False, True, False, False, False])
    monitor = HealthMonitor(config, threshold=3, check=script)
    decisions = [monitor.observe() for _ in range(6)]
    assert [d is not None for d in decisions] == [False, False, False, False, False, True]
    assert decisions[-1] == HealthCheck("us-east-1", ("process not running",))
    assert script.regions == ["us-east-1"] * 6


def test_counting_restarts_when_the_active_region_changes(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    monitor = HealthMonitor(config, threshold=2, check=Script([False, False, False]))
    assert monitor.observe() is None
    open_routing(config).set_active("us-west-2", "operator")
    assert monitor.observe() is None  # first failure of the new active region
    assert monitor.observe() is not None


def test_threshold_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HealthMonitor(StackConfig(data_dir=tmp_path), threshold=0)
