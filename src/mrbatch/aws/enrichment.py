"""The enrichment API as a Lambda function behind API Gateway.

The per-record chunk processor's definition calls it as written:

    "Resource": "arn:aws:states:::apigateway:invoke",
    "ApiEndpoint": "${EnrichmentApiEndpoint}", "Method": "GET",
    "Path": "/financials/{uuid}", "AuthType": "IAM_ROLE"

There is no `Stage` in that call, so the API is an **HTTP API** with its `$default` stage
(a REST API would need the stage in the path); its routes use IAM authorization, so API
Gateway itself checks the state machine role's SigV4 signature before this function runs
(no open API; this function trusts what reaches it). It answers as the local app
(`mrbatch.enrichment.api`): 200 with the record's columns as loaded, 404 for an unknown
uuid, 400 for a malformed one (the definition catches 404 and 400), and the batch route
for the batched processor. Events are API Gateway's payload format 2.0 (1.0 works too).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from mrbatch.enrichment.api import FINANCIAL_COLUMNS, MAX_BATCH
from mrbatch.enrichment.table import values_text
from mrbatch.ports import Table

__all__ = ["answer"]

_ONE = re.compile(r"^/financials/([^/]+)$")
_UUID = re.compile(r"[0-9]{9}")


def answer(event: Mapping[str, Any], financials: Table) -> dict[str, Any]:
    """The HTTP response (API Gateway's proxy shape) to one API Gateway event."""
    method, path = _route(event)
    found = _ONE.match(path)
    if method == "GET" and found:
        return _one(financials, found.group(1))
    if method == "POST" and path == "/financials:batch":
        return _batch(financials, _body(event))
    if method == "POST" and path == "/financials:values":
        return _values(financials, _body(event))
    if method == "GET" and path == "/health":
        return _json(200, {"status": "ok"})
    return _json(404, {"error": "NotFound", "message": f"no route {method} {path}"})


def _route(event: Mapping[str, Any]) -> tuple[str, str]:
    http = event.get("requestContext", {}).get("http")
    if http:  # payload format 2.0 (HTTP API)
        return str(http["method"]).upper(), str(event.get("rawPath") or http["path"])
    return str(event.get("httpMethod", "")).upper(), str(event.get("path", ""))


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()


def _one(financials: Table, uuid: str) -> dict[str, Any]:
    if not _UUID.fullmatch(uuid):
        return _json(400, {"error": "BadRequest", "message": "uuid must be exactly 9 digits"})
    item = financials.get({"uuid": uuid})
    if item is None:
        return _json(404, {"error": "NotFound", "message": f"no financial data for uuid {uuid}"})
    return _json(200, _record(item))


def _uuids(body: bytes) -> list[str] | dict[str, Any]:
    """The uuids of a batch request, or the 400 answer to a malformed or oversized one."""
    try:
        uuids = json.loads(body)["uuids"]
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _json(400, {"error": "BadRequest", "message": 'body must be {"uuids": [...]}'})
    if len(uuids) > MAX_BATCH:
        return _json(400, {"error": "BadRequest", "message": f"at most {MAX_BATCH} uuids"})
    return uuids


def _items(financials: Table, uuids: list[str]) -> list[dict[str, Any]]:
    keys = [{"uuid": uuid} for uuid in dict.fromkeys(uuids) if _UUID.fullmatch(uuid)]
    return financials.get_many(keys)


def _batch(financials: Table, body: bytes) -> dict[str, Any]:
    uuids = _uuids(body)
    if isinstance(uuids, dict):
        return uuids
    unique = list(dict.fromkeys(uuids))
    found = {str(item["uuid"]): _record(item) for item in _items(financials, unique)}
    return _json(200, {"found": found, "missing": [u for u in unique if u not in found]})


def _values(financials: Table, body: bytes) -> dict[str, Any]:
    """The values route, as the local app answers it (`mrbatch.enrichment.api`)."""
    uuids = _uuids(body)
    if isinstance(uuids, dict):
        return uuids
    found = {str(item["uuid"]): values_text(item) for item in _items(financials, uuids)}
    return _json(200, {"values": [found.get(uuid) for uuid in uuids]})


def _record(item: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(item[name]) for name in FINANCIAL_COLUMNS if name in item}


def _json(status: int, body: object) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
