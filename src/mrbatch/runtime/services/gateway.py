"""The gateway process: the access point (S3 API) and the routing control's HTTP API.

A region counts as down for the access point while its region process is not running
(no live pid in its ready file): PUTs then go to the other region, as an S3 Multi-Region
Access Point routes around a Region that cannot take requests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app
from mrbatch.asl.tasktokens import TaskTokens
from mrbatch.dashboard import RESERVED_PATHS, StackView, dashboard_routes
from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.metrics import SqliteMetrics
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.files import read_json
from mrbatch.runtime.wiring import load_credentials, open_region_store, open_routing

__all__ = ["region_alive", "serve"]

# how often the replication backlog and latency are sampled for the dashboard's graphs
GAUGE_SAMPLE_SECONDS = 10.0


def region_alive(config: StackConfig, region: str) -> bool:
    """Whether `region`'s process is running (its ready file names a live pid)."""
    ready_file = config.ready_file(region)
    try:
        pid = int(read_json(ready_file)["pid"])
        os.kill(pid, 0)
    except (OSError, KeyError, ValueError, MrBatchError):
        return False
    return True


class _CachedHealth:
    """Answers `region_alive` at most once a second per region (it is on every PUT)."""

    def __init__(self, config: StackConfig) -> None:
        self._config = config
        self._seen: dict[str, tuple[float, bool]] = {}

    def __call__(self, region: str) -> bool:
        now = time.monotonic()
        cached = self._seen.get(region)
        if cached is None or now - cached[0] > 1.0:
            cached = (now, region_alive(self._config, region))
            self._seen[region] = cached
        return cached[1]


def serve(
    config: StackConfig,
    args: list[str],
    ready: Callable[[dict[str, Any]], None],
    stop: threading.Event,
) -> None:
    """Serve the access point, the control API, the dashboard and `/metrics` until `stop`
    is set; reports `url` and `dashboard`."""
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    if config.bucket_alias in RESERVED_PATHS:
        raise ConfigError(f"bucket alias {config.bucket_alias!r} is a dashboard path")
    stores = {region: open_region_store(config, region) for region in config.regions}
    access_point = AccessPoint(stores, open_routing(config), is_available=_CachedHealth(config))
    view = StackView(config)
    app = build_app(
        access_point,
        [load_credentials(config)],
        bucket_alias=config.bucket_alias,
        multipart_dir=config.multipart_dir,
        extra_routes=dashboard_routes(view),
        metrics=SqliteMetrics(config.metrics_db),
        # SendTask* through the control API: a callback task's token is in its region's
        # workflow database
        task_tokens=TaskTokens([config.workflows_db(region) for region in config.regions]),
    )
    server = GatewayServer(app, port=port).start()
    sampler = threading.Thread(target=_sample, args=(view, stop), name="gauges", daemon=True)
    sampler.start()
    try:
        ready({"url": server.url, "dashboard": f"{server.url}/dashboard/"})
        stop.wait()
    finally:
        server.stop()
        sampler.join()
        view.close()


def _sample(view: StackView, stop: threading.Event) -> None:
    """Record the replication gauges every `GAUGE_SAMPLE_SECONDS` until `stop`; a failed
    sample (the replicator rewriting its status) is logged and the next one tried."""
    while not stop.wait(GAUGE_SAMPLE_SECONDS):
        try:
            view.record_replication_gauges()
        except MrBatchError:
            logging.getLogger(__name__).exception("sampling the replication gauges failed")
