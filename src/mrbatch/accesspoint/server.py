"""Assembling the gateway's Starlette app and running it with uvicorn on 127.0.0.1.

One app serves the S3 API of the access point (path-style: `/<bucket alias>/<key>`) and the
routing control's API under `/control/...` (so the alias may not be `control`). Extra routes
(a dashboard) can be mounted before the S3 catch-all.

`GatewayServer` runs any ASGI app in a background thread on a free port (port 0), which is
what tests and the supervisor's gateway process both need:

    server = GatewayServer(build_app(...)).start()
    print(server.url)       # http://127.0.0.1:<bound port>
    ...
    server.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from mrbatch.accesspoint.control import ControlApi
from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.headtimeout import DEFAULT_HEAD_TIMEOUT, with_head_timeout
from mrbatch.accesspoint.multipart import MultipartStaging
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.s3api import S3Api
from mrbatch.accesspoint.sigv4 import SigV4Verifier
from mrbatch.asl.tasktokens import TaskTokens
from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.ports import Metrics, RoutingControl

__all__ = ["GatewayServer", "build_app"]

_ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]


def build_app(
    access_point: AccessPoint,
    credentials: Sequence[Credentials],
    *,
    routing: RoutingControl | None = None,
    bucket_alias: str = "mrbatch",
    clock: Callable[[], float] = time.time,
    extra_routes: Sequence[BaseRoute] = (),
    multipart_dir: Path | None = None,
    metrics: Metrics | None = None,
    task_tokens: TaskTokens | None = None,
) -> Starlette:
    """The gateway app: control API (for `routing`, default the access point's own routing
    control), then `extra_routes`, then the S3 API for everything else.

    `clock` is the server's time for signature expiry and skew (injectable for tests).
    `metrics`, when given, are readable through the control API (`/control/metrics`);
    `task_tokens`, when given, answer SendTask* calls there (`/control/states`).
    `multipart_dir` is where multipart uploads are staged (the gateway owns it; uploads
    idle for a day are removed now, at start); without it multipart requests answer 501.
    """
    if bucket_alias == "control" or not 3 <= len(bucket_alias) <= 63:
        raise ConfigError(
            f"bucket alias {bucket_alias!r} must be 3-63 characters and not 'control'"
        )
    if not credentials:
        raise ConfigError("the gateway needs at least one pair of credentials")
    verifier = SigV4Verifier(credentials, clock=clock)
    staging = None
    if multipart_dir is not None:
        staging = MultipartStaging(multipart_dir, clock=clock)
        staging.remove_abandoned()
    s3 = S3Api(
        access_point, verifier, bucket_alias=bucket_alias, created_at=clock(), multipart=staging
    )
    control = ControlApi(
        routing or access_point.routing, credentials, metrics=metrics, task_tokens=task_tokens
    )
    routes: list[BaseRoute] = [
        *control.routes(),
        *extra_routes,
        Route("/{path:path}", s3.handle, methods=_ALL_METHODS),
    ]
    return Starlette(routes=routes)


class GatewayServer:
    """Runs an ASGI app with uvicorn in a background thread, bound to `host:port`
    (port 0 picks a free port; `port` tells which after `start`).

    A connection whose request head (request line and headers) is not complete
    `head_timeout` seconds after it opened, or after the request's first byte, is closed:
    one slow socket cannot hold a connection open (see `headtimeout`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
    ) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it every response body waits ~40 ms for a delayed ACK (Nagle).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise MrBatchError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http=with_head_timeout(head_timeout),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="gateway", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. `http://127.0.0.1:53211`."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> GatewayServer:
        """Start serving; return once uvicorn accepts connections. Raises MrBatchError
        when it has not started within `timeout` seconds."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise MrBatchError(f"the gateway did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server thread (idempotent)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
