"""The `apigateway:invoke` integration: a real HTTP call, answered as Step Functions does.

Parameters (as the AWS integration): `ApiEndpoint` (a host name, called over https as on
AWS, or a full `http://127.0.0.1:PORT` base URL for local services), `Method`, optional
`Stage` (first path segment), `Path`, `Headers` and `QueryParameters` (maps of name to a
list of values), `RequestBody` (an object is sent as JSON, a string as is), `AuthType`
(`NO_AUTH`, the default, sends the request unsigned; `IAM_ROLE` and `RESOURCE_POLICY` sign
it with the state machine's credentials, SigV4 for `execute-api`: locally the `role_auth`
the integration was given, the stack's credentials; without one such a task fails with
`States.Runtime` rather than go out unsigned).

Result: `{"ResponseBody", "StatusCode", "StatusText", "Headers"}`, the body parsed as JSON
when the response says it is JSON, headers as lists of values. A response that is not 2xx
fails the task with the error `ApiGateway.<status code>` (e.g. `ApiGateway.404`) and the
response body as the cause; a request that gets no response fails with
`ApiGateway.<exception>` (e.g. `ApiGateway.ConnectError`), as the AWS documentation says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import quote

import httpx

from mrbatch.asl import StatesError, TaskCall

__all__ = ["ApiGatewayIntegration"]

_PCHAR = ":@!$&'()*+,;="  # kept as is in a path segment (RFC 3986)
_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
_SIGNED = {"IAM_ROLE", "RESOURCE_POLICY"}
_AUTH_TYPES = {"NO_AUTH", *_SIGNED}


class ApiGatewayIntegration:
    """Calls HTTP endpoints with one pooled client; `close()` releases its connections.

    The blocking client runs on a thread, so a Map of many records keeps the engine's
    event loop free and reuses keep-alive connections. `role_auth` signs the requests of
    `IAM_ROLE` and `RESOURCE_POLICY` tasks (the runtime passes its SigV4 signer)."""

    def __init__(self, *, timeout: float = 30.0, role_auth: httpx.Auth | None = None) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._role_auth = role_auth

    async def invoke(self, call: TaskCall) -> dict[str, Any]:
        """`apigateway:invoke`."""
        params = call.parameters if isinstance(call.parameters, dict) else {}
        request = _request(self._client, params)
        auth = self._auth_for(str(params.get("AuthType") or "NO_AUTH"))
        try:
            response = await asyncio.to_thread(self._client.send, request, auth=auth)
        except httpx.HTTPError as exc:
            raise StatesError(f"ApiGateway.{type(exc).__name__}", str(exc)) from exc
        result = _result(response)
        if not 200 <= response.status_code < 300:
            raise StatesError(f"ApiGateway.{response.status_code}", response.text)
        return result

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def _auth_for(self, auth_type: str) -> httpx.Auth | None:
        if auth_type not in _AUTH_TYPES:
            raise StatesError(
                "States.Runtime",
                f"AuthType must be one of {sorted(_AUTH_TYPES)}, not {auth_type!r}",
            )
        if auth_type not in _SIGNED:
            return None
        if self._role_auth is None:
            raise StatesError(
                "States.Runtime", f"AuthType {auth_type} needs credentials to sign with; none set"
            )
        return self._role_auth


def _request(client: httpx.Client, params: dict[str, Any]) -> httpx.Request:
    endpoint = params.get("ApiEndpoint")
    method = str(params.get("Method", "")).upper()
    if not endpoint or method not in _METHODS:
        raise StatesError(
            "States.Runtime",
            f"apigateway:invoke needs ApiEndpoint and a Method in {sorted(_METHODS)}, got "
            f"{endpoint!r} and {method!r}",
        )
    base = str(endpoint) if "://" in str(endpoint) else f"https://{endpoint}"
    path = "/".join(
        quote(str(part), safe=_PCHAR)
        for part in (str(params.get("Stage") or ""), *str(params.get("Path") or "").split("/"))
        if part
    )
    headers = [(str(k), str(v)) for k, vs in (params.get("Headers") or {}).items() for v in vs]
    query: list[tuple[str, str | int | float | bool | None]] = [
        (str(k), str(v)) for k, vs in (params.get("QueryParameters") or {}).items() for v in vs
    ]
    body = params.get("RequestBody")
    content: bytes | None = None
    if isinstance(body, dict | list):
        content = json.dumps(body).encode("utf-8")
        headers.append(("content-type", "application/json"))
    elif body is not None:
        content = str(body).encode("utf-8")
    return client.build_request(
        method, f"{base.rstrip('/')}/{path}", headers=headers, params=query, content=content
    )


def _result(response: httpx.Response) -> dict[str, Any]:
    headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        headers.setdefault(name, []).append(value)
    body: Any = response.text
    if "json" in response.headers.get("content-type", "") and body:
        with contextlib.suppress(ValueError):
            body = response.json()
    return {
        "ResponseBody": body,
        "StatusCode": response.status_code,
        "StatusText": response.reason_phrase,
        "Headers": headers,
    }
