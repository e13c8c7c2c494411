"""The dashboard's HTTP routes, mounted in the gateway before the S3 catch-all.

`GET /dashboard/` (the page), `/dashboard/file?id=<file id>` (one file version's page),
`/dashboard/static/<file>` (their scripts and style, shipped in the package: nothing is
fetched from elsewhere at run time), `/dashboard/api/overview` (the overview's data,
polled every 2 s), `/dashboard/api/file?id=<file id>` (a file's data, with a fresh
presigned link to its output) and `/metrics` (Prometheus). All read-only and without
credentials, as a CloudWatch dashboard shared read-only: they show counts, statuses, file
names, invalid rows and a presigned link to an output (what the email carries), never
credentials; changing anything (failover) still needs the stack's SigV4 credentials on
the control API.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mrbatch.dashboard.data import RANGES, StackView
from mrbatch.dashboard.filepage import file_detail, output_link
from mrbatch.metrics.prometheus import CONTENT_TYPE, exposition

__all__ = ["RESERVED_PATHS", "dashboard_routes"]

# the first path segments these routes take from the S3 API (no bucket alias may use them)
RESERVED_PATHS = ("dashboard", "metrics")

_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "file.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_NO_STORE = {"Cache-Control": "no-store"}


def _asset(name: str) -> bytes:
    return resources.files("mrbatch.dashboard").joinpath("static", name).read_bytes()


def dashboard_routes(view: StackView) -> list[BaseRoute]:
    """The routes serving `view`'s stack."""

    def page(request: Request) -> Response:
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8")

    def file_page(request: Request) -> Response:
        return Response(_asset("file.html"), media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:  # a fixed list: no path from the request reaches the disk
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(_asset(name), media_type=_STATIC[name])

    def overview(request: Request) -> Response:
        raw = request.query_params.get("range", "900")
        if not raw.isdigit() or int(raw) not in RANGES:
            choices = ", ".join(map(str, RANGES))
            return JSONResponse({"error": f"range must be one of {choices}"}, status_code=400)
        return JSONResponse(view.overview(int(raw)), headers=_NO_STORE)

    def file_data(request: Request) -> Response:
        file_id = request.query_params.get("id", "")
        detail = file_detail(view.config, file_id) if file_id else None
        if detail is None:
            message = f"no region knows a file version {file_id!r} (ids are <key>#<version id>)"
            return JSONResponse({"error": message}, status_code=404, headers=_NO_STORE)
        detail["link"] = output_link(view.config, detail["output"]) if detail["output"] else None
        return JSONResponse(detail, headers=_NO_STORE)

    def metrics(request: Request) -> Response:
        return Response(exposition(view.prometheus_snapshot()), media_type=CONTENT_TYPE)

    return [
        Route("/dashboard", lambda request: RedirectResponse("/dashboard/"), methods=["GET"]),
        Route("/dashboard/", page, methods=["GET"]),
        Route("/dashboard/file", file_page, methods=["GET"]),
        Route("/dashboard/static/{name}", static, methods=["GET"]),
        Route("/dashboard/api/overview", overview, methods=["GET"]),
        Route("/dashboard/api/file", file_data, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
