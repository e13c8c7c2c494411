"""Health checks of the active region, and the decision to fail over automatically.

`mrbatch up --auto-failover` runs a `HealthMonitor` every second. A check of the active
region passes when its process answers (its ready file names a live pid), its object store
answers a listing, and its batch state table answers a read. The store and the table are
reached as the region's handlers reach them, through the chaos wrappers, so a `mrbatch
chaos block` of the region's objects or tables fails the check as a real outage would
(at once, never hanging: the supervision loop must not wait). After `threshold`
consecutive failed checks the monitor asks for a failover.

The trade-off (see docs/operations.md): a low threshold recovers faster but fails over on a
blip (a GC pause, a slow disk), and every failover costs a re-drive of the files in flight;
a high threshold avoids false failovers but adds `threshold` seconds to the recovery time.
The default, 3, keeps the detection delay well under the 5 s recovery target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mrbatch.errors import MrBatchError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import FaultyObjectStore, FaultyTable
from mrbatch.runtime.services.gateway import region_alive
from mrbatch.runtime.wiring import fault_switch, open_region_store, open_routing, open_tables

__all__ = ["HealthCheck", "HealthMonitor", "check_region"]


@dataclass(frozen=True)
class HealthCheck:
    """One check of one region: empty `failures` means healthy."""

    region: str
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return not self.failures


def check_region(config: StackConfig, region: str) -> HealthCheck:
    """Check the region's process, object store and state table."""
    failures: list[str] = []
    if not region_alive(config, region):
        failures.append("process not running")
    faults = fault_switch(config, region, hang=False)
    try:
        FaultyObjectStore(open_region_store(config, region), faults).list_page("", max_keys=1)
    except (MrBatchError, OSError) as exc:
        failures.append(f"object store unreachable: {exc}")
    try:
        tables = open_tables(config, region)
        try:
            FaultyTable(tables.batch_state, faults).get({"file_id": "health-check"})
        finally:
            tables.close()
    except (MrBatchError, OSError) as exc:
        failures.append(f"state table unreachable: {exc}")
    return HealthCheck(region, tuple(failures))


class HealthMonitor:
    """Counts consecutive failed checks of whichever region is active."""

    def __init__(
        self,
        config: StackConfig,
        *,
        threshold: int = 3,
        check: Callable[[StackConfig, str], HealthCheck] = check_region,
    ) -> None:
        if threshold < 1:
            raise ValueError("the failure threshold must be at least 1")
        self.config = config
        self.threshold = threshold
        self._check = check
        self._region: str | None = None
        self.consecutive_failures = 0

    def observe(self) -> HealthCheck | None:
        """Check the active region once; returns the failing check when the threshold is
        reached (the caller fails over), else None."""
        active = open_routing(self.config).state().active_region
        if active != self._region:
            self._region, self.consecutive_failures = active, 0
        result = self._check(self.config, active)
        if result.healthy:
            self.consecutive_failures = 0
            return None
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.threshold:
            self.consecutive_failures = 0
            return result
        return None
