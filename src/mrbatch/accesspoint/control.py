"""The routing control's HTTP API, and a client that is itself a `RoutingControl`.

    GET  /control/health   -> {"status": "ok"}                      (no authentication)
    GET  /control/state    -> {"active_region", "epoch", "changed_at", "reason"}
    POST /control/active   {"region", "reason", "expected_epoch"?} -> the new state
                           (409 when expected_epoch is stale, 400 for an unknown region)
    GET  /control/history  -> {"history": [state, ...]} oldest first
    GET  /control/metrics  ?name=&region=&since= -> {"points": [{name, value, region,
                           timestamp, dimensions}, ...]} oldest first (when given metrics)
    POST /control/states   the Step Functions API's SendTaskSuccess, SendTaskFailure and
                           SendTaskHeartbeat in its JSON protocol (`X-Amz-Target:
                           AWSStepFunctions.<Operation>`, errors `{"__type", "message"}`), so
                           an AWS SDK pointed at this URL answers callback tasks (when given
                           task tokens)

Authentication (every route but health): either `Authorization: Bearer <token>` with the
token from `control_token(credentials)`, or a SigV4 Authorization header with the same
credentials (any service name in the scope, e.g. `execute-api`) whose signature covers the
body's SHA-256: a signature over `UNSIGNED-PAYLOAD` would let a captured request be replayed
with another body while its date is within the 15 minutes of skew. Bodies are at most 64 KiB.
Errors are JSON: `{"error": "<Code>", "message": "..."}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mrbatch.accesspoint.credentials import Credentials, control_token
from mrbatch.accesspoint.s3api import signed_request
from mrbatch.accesspoint.s3errors import S3Error, access_denied, bad_request
from mrbatch.accesspoint.sigv4 import SigV4Verifier, Verified
from mrbatch.asl.callback import TaskTokenError
from mrbatch.asl.tasktokens import TaskTokens
from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.ports import Metrics, RoutingControl, RoutingState

__all__ = ["ControlApi", "HttpRoutingControl", "state_to_json"]

_MAX_BODY = 64 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def state_to_json(state: RoutingState) -> dict[str, Any]:
    """The JSON form of a routing state."""
    return {
        "active_region": state.active_region,
        "epoch": state.epoch,
        "changed_at": state.changed_at,
        "reason": state.reason,
    }


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class ControlApi:
    """Serves a `RoutingControl` over HTTP; `routes()` gives the Starlette routes."""

    def __init__(
        self,
        routing: RoutingControl,
        credentials: Iterable[Credentials],
        *,
        verifier: SigV4Verifier | None = None,
        metrics: Metrics | None = None,
        task_tokens: TaskTokens | None = None,
    ) -> None:
        self.routing = routing
        self.metrics = metrics
        self.task_tokens = task_tokens
        self.credentials = list(credentials)
        self._tokens = [control_token(c) for c in self.credentials]
        self._verifier = verifier or SigV4Verifier(self.credentials, service=None)

    def routes(self) -> list[BaseRoute]:
        """The routes under /control."""
        return [
            Route("/control/health", self._health, methods=["GET"]),
            Route("/control/state", self._state, methods=["GET"]),
            Route("/control/active", self._set_active, methods=["POST"]),
            Route("/control/history", self._history, methods=["GET"]),
            Route("/control/metrics", self._metrics, methods=["GET"]),
            Route("/control/states", self._states_api, methods=["POST"]),
        ]

    async def _states_api(self, request: Request) -> Response:
        """SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat, as the Step Functions API."""
        body = await self._authenticated_body(request)
        if isinstance(body, Response):
            return body
        if self.task_tokens is None:
            return _error(404, "NoTaskTokens", "this control API answers no task tokens")
        target = request.headers.get("x-amz-target", "")
        call = _task_token_call(self.task_tokens, target.removeprefix(_SFN_TARGET), body)
        if isinstance(call, Response):
            return call
        try:
            await run_in_threadpool(call)
        except TaskTokenError as exc:
            return _sfn_error(exc.code, str(exc))
        return JSONResponse({}, media_type="application/x-amz-json-1.0")

    async def _metrics(self, request: Request) -> Response:
        """The stack's recorded metric points, oldest first: `?name=&region=&since=` (all
        optional; `since` in epoch seconds). 404 when this gateway serves no metrics."""
        body = await self._authenticated_body(request)
        if isinstance(body, Response):
            return body
        if self.metrics is None:
            return _error(404, "NoMetrics", "this control API serves no metrics")
        name, region = request.query_params.get("name"), request.query_params.get("region")
        try:
            since = float(request.query_params.get("since", "0"))
        except ValueError:
            return _error(400, "InvalidRequest", '"since" must be a number of seconds')
        metrics = self.metrics
        points = await run_in_threadpool(lambda: metrics.points(name, region=region))
        return JSONResponse(
            {
                "points": [
                    {"name": p.name, "value": p.value, "region": p.region,
                     "timestamp": p.timestamp, "dimensions": dict(p.dimensions)}
                    for p in points
                    if p.timestamp >= since
                ]
            }
        )  # fmt: skip

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _state(self, request: Request) -> Response:
        body = await self._authenticated_body(request)
        if isinstance(body, Response):
            return body
        try:
            state = await run_in_threadpool(self.routing.state)
        except RoutingError as exc:
            return _error(503, "RoutingUnavailable", str(exc))
        return JSONResponse(state_to_json(state))

    async def _history(self, request: Request) -> Response:
        body = await self._authenticated_body(request)
        if isinstance(body, Response):
            return body
        try:
            states = await run_in_threadpool(self.routing.history)
        except RoutingError as exc:
            return _error(503, "RoutingUnavailable", str(exc))
        return JSONResponse({"history": [state_to_json(s) for s in states]})

    async def _set_active(self, request: Request) -> Response:
        body = await self._authenticated_body(request)
        if isinstance(body, Response):
            return body
        try:
            region, reason, expected = _parse_set_active(body)
        except ValueError as exc:
            return _error(400, "InvalidRequest", str(exc))
        try:
            state = await run_in_threadpool(
                lambda: self.routing.set_active(region, reason, expected_epoch=expected)
            )
        except ConditionFailedError as exc:
            return _error(409, "ConditionFailed", str(exc))
        except RoutingError as exc:
            return _error(400, "InvalidRegion", str(exc))
        return JSONResponse(state_to_json(state))

    async def _authenticated_body(self, request: Request) -> bytes | Response:
        """The request's body when the caller is authenticated, else the refusal to send."""
        body = await _bounded_body(request)
        if body is None:
            return _error(413, "RequestTooLarge", "the request body is too large")
        refusal = self._authenticate(request, body)
        return body if refusal is None else refusal

    def _authenticate(self, request: Request, body: bytes) -> Response | None:
        """None when the caller is authenticated, else the refusal to send."""
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :].strip()
            if any(hmac.compare_digest(token, known) for known in self._tokens):
                return None
            return _error(403, "AccessDenied", "the bearer token is not valid")
        if authorization.startswith("AWS4-HMAC-SHA256 "):
            try:
                digest = hashlib.sha256(body).hexdigest()
                verified = self._verifier.verify(signed_request(request), body_sha256=digest)
                _check_payload_signed(verified, digest)
            except S3Error as err:
                return _error(err.status, err.code, err.message)
            return None
        response = _error(401, "Unauthorized", "send a bearer token or a SigV4 signature")
        response.headers["www-authenticate"] = "Bearer"
        return response


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, or None as soon as it passes `_MAX_BODY` (never held whole)."""
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > _MAX_BODY:
            return None
    return bytes(body)


def _check_payload_signed(verified: Verified, body_sha256: str) -> None:
    """Raise unless the verified signature covers exactly the body whose hash is given: the
    payload hash signed (from x-amz-content-sha256, or the body's own when that header is
    absent, as botocore's SigV4Auth signs) must be that hash, not UNSIGNED-PAYLOAD nor a
    streaming mode."""
    declared = verified.payload_hash
    if not _HEX64.match(declared):
        raise access_denied(
            "the control API needs a signed payload: x-amz-content-sha256 must be the "
            f"SHA-256 of the body (or absent), not {declared!r}"
        )
    if not hmac.compare_digest(declared, body_sha256):
        raise bad_request(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )


_SFN_TARGET = "AWSStepFunctions."


def _sfn_error(code: str, message: str) -> JSONResponse:
    """An error in the JSON protocol's shape (`__type` is what an AWS SDK raises by), with
    this API's `error` key as well."""
    return JSONResponse(
        {"__type": code, "message": message, "error": code},
        status_code=400,
        media_type="application/x-amz-json-1.0",
    )


def _task_token_call(
    tokens: TaskTokens, operation: str, body: bytes
) -> Callable[[], None] | Response:
    """The call `operation` asks for with the arguments in `body`, or the refusal to send."""
    try:
        args = json.loads(body or b"{}")
    except ValueError:
        args = None
    if not isinstance(args, dict):
        return _sfn_error("SerializationException", "the body must be a JSON object")
    if operation not in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        return _sfn_error(
            "UnknownOperationException",
            f"{operation or 'no X-Amz-Target'}: only SendTaskSuccess, SendTaskFailure and "
            "SendTaskHeartbeat are served here",
        )
    token = args.get("taskToken")
    if not isinstance(token, str):
        return _sfn_error("InvalidToken", '"taskToken" must be a string')
    if operation == "SendTaskSuccess":
        output = args.get("output")
        if not isinstance(output, str):
            return _sfn_error("InvalidOutput", '"output" must be a string of JSON')
        return lambda: tokens.send_task_success(token, output)
    if operation == "SendTaskFailure":
        error, cause = args.get("error"), args.get("cause")
        if not all(v is None or isinstance(v, str) for v in (error, cause)):
            return _sfn_error("SerializationException", '"error" and "cause" must be strings')
        return lambda: tokens.send_task_failure(token, error, cause)
    return lambda: tokens.send_task_heartbeat(token)


def _parse_set_active(body: bytes) -> tuple[str, str, int | None]:
    try:
        record = json.loads(body or b"null")
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(record, dict):
        raise ValueError('the body must be a JSON object {"region", "reason", "expected_epoch"?}')
    region, reason, expected = (
        record.get("region"),
        record.get("reason"),
        record.get("expected_epoch"),
    )
    if not isinstance(region, str) or not region:
        raise ValueError('"region" must be a non-empty string')
    if not isinstance(reason, str):
        raise ValueError('"reason" must be a string')
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool)):
        raise ValueError('"expected_epoch" must be an integer')
    return region, reason, expected


class HttpRoutingControl:
    """A `RoutingControl` that asks the control API over HTTP (bearer token).

    Every failure to get an answer (connection refused, timeout, 5xx) is a RoutingError,
    so callers treat "cannot tell" as "not active".

    >>> control = HttpRoutingControl("http://127.0.0.1:9000", Credentials("AKID", "s"))
    """

    def __init__(self, base_url: str, credentials: Credentials, *, timeout: float = 5.0) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {control_token(credentials)}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def state(self) -> RoutingState:
        return _state_from_json(self._call("GET", "/control/state"))

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        body: dict[str, Any] = {"region": region, "reason": reason}
        if expected_epoch is not None:
            body["expected_epoch"] = expected_epoch
        return _state_from_json(self._call("POST", "/control/active", body))

    def history(self) -> list[RoutingState]:
        return [_state_from_json(s) for s in self._call("GET", "/control/history")["history"]]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RoutingError(f"routing control unreachable: {exc}") from exc
        try:
            record = response.json()
        except ValueError:
            raise RoutingError(
                f"routing control answered {response.status_code} without JSON"
            ) from None
        if response.status_code == 409:
            raise ConditionFailedError(record.get("message", "epoch changed"))
        if response.status_code != 200:
            raise RoutingError(f"routing control: {record.get('error')}: {record.get('message')}")
        return record


def _state_from_json(record: Any) -> RoutingState:
    try:
        return RoutingState(
            str(record["active_region"]),
            int(record["epoch"]),
            float(record["changed_at"]),
            str(record["reason"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutingError(f"routing control sent a malformed state: {record!r}") from exc
