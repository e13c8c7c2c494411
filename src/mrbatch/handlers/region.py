"""The `Region` a handler works in: a bundle of ports, built once per process.

On AWS, a Lambda function learns its configuration from environment variables; the local
runtime does the same, so the handlers read the same way in both: `MRBATCH_TARGET`
(`local`, the default), `MRBATCH_DATA_DIR`, `MRBATCH_REGION` and `MRBATCH_ENRICHMENT_URL`.
The region process sets them before it starts its worker pool, so every worker builds the
same `Region` on its first call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mrbatch.errors import ConfigError
from mrbatch.pipeline import FinancialSource, Rules
from mrbatch.ports import Metrics, Notifier, ObjectStore, RoutingControl, Table

__all__ = ["Region", "current_region", "set_current_region"]


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


_lock = threading.Lock()
_current: Region | None = None


def set_current_region(region: Region | None) -> None:
    """Install the region handlers of this process use (tests and the region process)."""
    global _current
    with _lock:
        _current = region


def current_region() -> Region:
    """The region of this process, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = _from_environment()
        return _current


def _from_environment() -> Region:
    target = os.environ.get("MRBATCH_TARGET", "local")
    if target != "local":
        raise ConfigError(f"MRBATCH_TARGET={target!r} is not supported here (only 'local')")
    try:
        data_dir, region = os.environ["MRBATCH_DATA_DIR"], os.environ["MRBATCH_REGION"]
    except KeyError as exc:
        raise ConfigError(f"handlers need the environment variable {exc.args[0]}") from exc
    from mrbatch.runtime.wiring import open_local_region

    return open_local_region(Path(data_dir), region, os.environ.get("MRBATCH_ENRICHMENT_URL"))
