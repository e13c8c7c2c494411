"""The enrichment API of one region (API Gateway + a function over a table, on AWS).

    GET  /financials/{uuid}   200 {"uuid": ..., "unitsSold": ..., ...}; 404 unknown; 400 malformed
    POST /financials:batch    {"uuids": [...]} -> {"found": {uuid: record}, "missing": [...]}
    POST /financials:values   {"uuids": [...]} -> {"values": ["934,152.58,...", null, ...]}
    GET  /health              200 {"status": "ok", "region": ...}

Values are returned exactly as they were loaded (strings from the financial CSV), so the
enriched output copies them byte for byte. The values route serves the batched chunk
processor: one request per chunk (or per `MAX_BATCH` uuids) instead of one per row, and a
compact answer, each uuid's six values as the output CSV text in request order (null when
unknown), which the client joins to its rows without building a record per row.

As an API Gateway API with IAM authorization: every route but /health takes only requests
SigV4-signed for `execute-api` with the stack's credentials over their exact body (403
otherwise, the table's contents are for the stack alone); a body is at most
`MAX_BODY_BYTES` (413, refused before it is read) and a batch at most `MAX_BATCH` uuids.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.iam import EXECUTE_API, IamAuth, read_body, verify_signed
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.sigv4 import SigV4Verifier
from mrbatch.enrichment.table import (
    AttributeReads,
    aligned_values,
    distinct_uuids,
    record_from_item,
    values_by_sql,
    values_text,
)
from mrbatch.errors import InputFileError, MrBatchError
from mrbatch.model import FinancialRecord
from mrbatch.pipeline import FINANCIAL_COLUMNS
from mrbatch.ports import Table

if TYPE_CHECKING:  # polars is imported by the client's lookup, not with the API's module
    import polars as pl

__all__ = [
    "FINANCIAL_COLUMNS",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "EnrichmentUnavailableError",
    "HttpFinancialSource",
    "build_app",
    "read_financial_csv",
]

MAX_BATCH = 10_000
MAX_BODY_BYTES = 256 * 1024  # a full batch of 9-digit uuids is about 130 KB of JSON
_UUID = re.compile(r"[0-9]{9}")

_Endpoint = Callable[[Request, bytes], Awaitable[JSONResponse]]


def read_financial_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a financial-data CSV as dicts of strings; InputFileError on a bad header."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != FINANCIAL_COLUMNS:
            raise InputFileError(
                str(path), f"financial data header must be {','.join(FINANCIAL_COLUMNS)}"
            )
        for row in reader:
            yield {name: row[name] for name in FINANCIAL_COLUMNS}


def _record(item: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(item[name]) for name in FINANCIAL_COLUMNS if name in item}


def _uuids(body: bytes) -> list[str] | JSONResponse:
    """The uuids of a batch request, or the 400 answer to a malformed or oversized one."""
    try:
        uuids = json.loads(body)["uuids"]
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _error(400, "BadRequest", 'body must be {"uuids": [string, ...]}')
    if len(uuids) > MAX_BATCH:
        return _error(400, "BadRequest", f"at most {MAX_BATCH} uuids per request")
    return uuids


def _items(table: Table, uuids: Sequence[str]) -> list[dict[str, Any]]:
    """The table's items for the well-formed ones of `uuids` (no other can be stored)."""
    keys = [{"uuid": uuid} for uuid in dict.fromkeys(uuids) if _UUID.fullmatch(uuid)]
    return table.get_many(keys)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status)


def _signed_only(
    verifier: SigV4Verifier, endpoint: _Endpoint
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """`endpoint` behind IAM authorization: its body bounded, its signature checked."""

    async def guarded(request: Request) -> JSONResponse:
        try:
            body = await read_body(request, limit=MAX_BODY_BYTES)
        except S3Error as err:
            return _error(err.status, err.code, err.message)
        try:
            verify_signed(verifier, request, body)
        except S3Error as err:  # API Gateway answers every refused signature with 403
            return _error(403, err.code, err.message)
        return await endpoint(request, body)

    return guarded


def build_app(
    table: Table,
    *,
    region: str,
    credentials: Sequence[Credentials],
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The HTTP app over `table` (key: uuid), for requests signed with `credentials`.
    `clock` is the server's time for the signature's 15-minute window."""
    verifier = SigV4Verifier(credentials, clock=clock, service=EXECUTE_API)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "region": region})

    async def one(request: Request, body: bytes) -> JSONResponse:
        uuid = request.path_params["uuid"]
        if not _UUID.fullmatch(uuid):
            return JSONResponse(
                {"error": "BadRequest", "message": "uuid must be exactly 9 digits"}, 400
            )
        item = table.get({"uuid": uuid})
        if item is None:
            return JSONResponse(
                {"error": "NotFound", "message": f"no financial data for uuid {uuid}"}, 404
            )
        return JSONResponse(_record(item))

    async def batch(request: Request, body: bytes) -> JSONResponse:
        uuids = _uuids(body)
        if isinstance(uuids, JSONResponse):
            return uuids
        unique = list(dict.fromkeys(uuids))
        found = {str(item["uuid"]): _record(item) for item in _items(table, unique)}
        missing = [uuid for uuid in unique if uuid not in found]
        return JSONResponse({"found": found, "missing": missing})

    async def values(request: Request, body: bytes) -> JSONResponse:
        uuids = _uuids(body)
        if isinstance(uuids, JSONResponse):
            return uuids
        if isinstance(table, AttributeReads):
            found = values_by_sql(table, [u for u in dict.fromkeys(uuids) if _UUID.fullmatch(u)])
        else:  # DynamoDB (the AWS Lambda keeps this path) and the in-memory table
            found = {str(item["uuid"]): values_text(item) for item in _items(table, uuids)}
        return JSONResponse({"values": [found.get(uuid) for uuid in uuids]})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/financials:batch", _signed_only(verifier, batch), methods=["POST"]),
            Route("/financials:values", _signed_only(verifier, values), methods=["POST"]),
            Route("/financials/{uuid}", _signed_only(verifier, one)),
        ]
    )


class EnrichmentUnavailableError(MrBatchError):
    """The enrichment API did not answer; the task is retried (see the chunk processor)."""


class HttpFinancialSource:
    """`FinancialSource` over the enrichment API's batch endpoint: one request per chunk,
    signed with `credentials` (SigV4, `execute-api`, in `region`).

    Only well-formed uuids are asked for (no other can be found), so a batch's body stays
    far under the API's limit."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials,
        region: str = "us-east-1",
        timeout: float = 30.0,
    ) -> None:
        auth = IamAuth(credentials, region=region)
        self._client = httpx.Client(base_url=base_url, timeout=timeout, auth=auth)

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """See `mrbatch.pipeline.FinancialSource.lookup`."""
        found: dict[str, FinancialRecord] = {}
        unique = [uuid for uuid in dict.fromkeys(uuids) if _UUID.fullmatch(uuid)]
        for start in range(0, len(unique), MAX_BATCH):
            answer = self._post("/financials:batch", unique[start : start + MAX_BATCH])
            for uuid, item in answer["found"].items():
                found[uuid] = record_from_item(item)
        return found

    def lookup_values(self, uuids: pl.Series) -> pl.Series:
        """See `mrbatch.pipeline.enrich.ValuesFinancialSource.lookup_values`: the distinct
        well-formed uuids in requests of at most `MAX_BATCH`, the answers joined back."""
        wanted = [uuid for uuid in distinct_uuids(uuids) if _UUID.fullmatch(uuid)]
        values: list[str | None] = []
        for start in range(0, len(wanted), MAX_BATCH):
            batch = wanted[start : start + MAX_BATCH]
            answer = self._post("/financials:values", batch)["values"]
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise EnrichmentUnavailableError(
                    f"enrichment API answered {answer!r:.80} for {len(batch)} uuids"
                )
            values.extend(answer)
        return aligned_values(uuids, wanted, values)

    def _post(self, path: str, uuids: list[str]) -> dict[str, Any]:
        """POST a batch of uuids to `path`; the JSON answer. EnrichmentUnavailableError when
        the API cannot be reached or refuses (the chunk processor retries it)."""
        try:
            response = self._client.post(path, json={"uuids": uuids})
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EnrichmentUnavailableError(f"enrichment API failed: {exc}") from exc
        if not isinstance(answer, dict):
            raise EnrichmentUnavailableError(f"enrichment API answered {type(answer).__name__}")
        return answer

    def close(self) -> None:
        self._client.close()
