"""The access point (an S3-compatible HTTP gateway, as an S3 Multi-Region Access Point) and
the routing control's HTTP API.

Typical use (what the supervisor's gateway process does):

    from mrbatch.runtime.gateway import (
        AccessPoint, GatewayServer, build_app, generate_credentials, presign_get_url)

    credentials = generate_credentials()
    access_point = AccessPoint({"us-east-1": east_store, "us-west-2": west_store}, routing)
    app = build_app(access_point, [credentials], multipart_dir=data_dir / "run" / "multipart")
    server = GatewayServer(app).start()
    url = presign_get_url(server.url, "mrbatch", "output/completed/a.csv", credentials)
    server.stop()
"""

from mrbatch.runtime.gateway.accesspoint import AccessPoint, NoRegionAvailableError
from mrbatch.runtime.gateway.control import ControlApi, HttpRoutingControl
from mrbatch.runtime.gateway.credentials import Credentials, control_token, generate_credentials
from mrbatch.runtime.gateway.multipart import MultipartStaging
from mrbatch.runtime.gateway.presign import presign_get_url
from mrbatch.runtime.gateway.s3api import S3Api
from mrbatch.runtime.gateway.s3errors import S3Error
from mrbatch.runtime.gateway.server import GatewayServer, build_app
from mrbatch.runtime.gateway.sigv4 import SigV4Verifier

__all__ = [
    "AccessPoint",
    "ControlApi",
    "Credentials",
    "GatewayServer",
    "HttpRoutingControl",
    "MultipartStaging",
    "NoRegionAvailableError",
    "S3Api",
    "S3Error",
    "SigV4Verifier",
    "build_app",
    "control_token",
    "generate_credentials",
    "presign_get_url",
]
