"""The `Region` a handler works in: a bundle of ports, built once per process.

Configuration is read at a process's entry point only, never by a handler: the process
that starts handlers installs either a built `Region` (`set_current_region`, for handlers
run in that process) or a picklable `RegionSpec` (`install_region_spec`, typically as the
engine's worker initializer), which is built on the first handler call. The local runtime
passes `mrbatch.runtime.wiring.LocalRegionSpec`; a Lambda entry point would build its
region from its environment the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mrbatch.errors import ConfigError
from mrbatch.handlers.drill import NO_BREAKPOINTS, Breakpoints
from mrbatch.pipeline import Rules
from mrbatch.ports import FinancialSource, Metrics, Notifier, ObjectStore, RoutingControl, Table

__all__ = ["Region", "RegionSpec", "current_region", "install_region_spec", "set_current_region"]


@dataclass(frozen=True)
class Region:
    """Everything a handler may touch in its region."""

    name: str
    store: ObjectStore
    batch_state: Table
    errors: Table
    routing: RoutingControl
    notifier: Notifier
    metrics: Metrics
    financials: FinancialSource
    rules: Rules
    chunk_size: int
    sender: str
    recipients: tuple[str, ...]
    presign: Callable[[str], tuple[str, int]]
    """key -> (URL through the access point, seconds until it expires)"""
    breakpoints: Breakpoints = field(default=NO_BREAKPOINTS)
    """Drill breakpoints (`mrbatch.handlers.drill`); by default they hold nothing."""


class RegionSpec(Protocol):
    """What a process needs to build its `Region`; must pickle (it crosses into workers)."""

    def build(self) -> Region:
        """Open every port of the region."""
        ...


_lock = threading.Lock()
_current: Region | None = None
_spec: RegionSpec | None = None


def set_current_region(region: Region | None) -> None:
    """Install the region handlers of this process use (tests and in-process runs)."""
    global _current
    with _lock:
        _current = region


def install_region_spec(spec: RegionSpec) -> None:
    """Install how to build this process's region, on its first use (a worker pool's
    initializer: `functools.partial(install_region_spec, spec)`)."""
    global _current, _spec
    with _lock:
        _spec, _current = spec, None


def current_region() -> Region:
    """The region of this process; raises ConfigError when nothing was installed."""
    global _current
    with _lock:
        if _current is None:
            if _spec is None:
                raise ConfigError(
                    "no region installed in this process: the process that runs handlers "
                    "must call set_current_region or install_region_spec first"
                )
            _current = _spec.build()
        return _current
