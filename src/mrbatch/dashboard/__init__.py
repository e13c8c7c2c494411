"""The live dashboard and `/metrics`, served by the gateway (127.0.0.1 only).

`dashboard_routes(StackView(config))` gives the Starlette routes; the gateway mounts them
before the S3 API. See docs/observability.md.
"""

from mrbatch.dashboard.data import StackView
from mrbatch.dashboard.routes import RESERVED_PATHS, dashboard_routes

__all__ = ["RESERVED_PATHS", "StackView", "dashboard_routes"]
