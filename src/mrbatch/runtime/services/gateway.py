"""The gateway process: the access point (S3 API) and the routing control's HTTP API.

A region counts as down for the access point while its region process is not running
(no live pid in its ready file): PUTs then go to the other region, as an S3 Multi-Region
Access Point routes around a Region that cannot take requests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app
from mrbatch.errors import MrBatchError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.files import read_json
from mrbatch.runtime.wiring import load_credentials, open_region_store, open_routing

__all__ = ["region_alive", "serve"]


def region_alive(config: StackConfig, region: str) -> bool:
    """Whether `region`'s process is running (its ready file names a live pid)."""
    ready_file = config.data_dir / "run" / f"{region}.json"
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
    """Serve the access point and control API until `stop` is set; reports `url`."""
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    stores = {region: open_region_store(config, region) for region in config.regions}
    access_point = AccessPoint(stores, open_routing(config), is_available=_CachedHealth(config))
    app = build_app(
        access_point,
        [load_credentials(config)],
        bucket_alias=config.bucket_alias,
        multipart_dir=config.data_dir / "run" / "multipart",
    )
    server = GatewayServer(app, port=port).start()
    try:
        ready({"url": server.url})
        stop.wait()
    finally:
        server.stop()
