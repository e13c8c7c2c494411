"""The access point (an S3-compatible HTTP gateway, as an S3 Multi-Region Access Point) and
the routing control's HTTP API.

Typical use (what the supervisor's gateway process does):

    from mrbatch.accesspoint import (
        AccessPoint, GatewayServer, build_app, generate_credentials, presign_get_url)

    credentials = generate_credentials()
    access_point = AccessPoint({"us-east-1": east_store, "us-west-2": west_store}, routing)
    app = build_app(access_point, [credentials], multipart_dir=data_dir / "run" / "multipart")
    server = GatewayServer(app).start()
    url = presign_get_url(server.url, "mrbatch", "output/completed/a.csv", credentials)
    server.stop()
"""

from mrbatch.accesspoint.control import ControlApi, HttpRoutingControl
from mrbatch.accesspoint.credentials import Credentials, control_token, generate_credentials
from mrbatch.accesspoint.multipart import MultipartStaging
from mrbatch.accesspoint.presign import presign_get_url
from mrbatch.accesspoint.regions import AccessPoint, NoRegionAvailableError
from mrbatch.accesspoint.s3api import S3Api
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.server import GatewayServer, build_app
from mrbatch.accesspoint.sigv4 import SigV4Verifier

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
