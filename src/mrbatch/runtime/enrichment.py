"""The enrichment API of one region (API Gateway + a function over a table, on AWS).

    GET  /financials/{uuid}   200 {"uuid": ..., "unitsSold": ..., ...}; 404 unknown; 400 malformed
    POST /financials:batch    {"uuids": [...]} -> {"found": {uuid: record}, "missing": [...]}
    GET  /health              200 {"status": "ok", "region": ...}

Values are returned exactly as they were loaded (strings from the financial CSV), so the
enriched output copies them byte for byte. The batch endpoint serves the batched chunk
processor: one request per chunk instead of one per row.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mrbatch.errors import InputFileError, MrBatchError
from mrbatch.handlers.financials import record_from_item
from mrbatch.model import FinancialRecord
from mrbatch.pipeline import FINANCIAL_COLUMNS
from mrbatch.ports import Table

__all__ = [
    "FINANCIAL_COLUMNS",
    "MAX_BATCH",
    "EnrichmentUnavailableError",
    "HttpFinancialSource",
    "build_app",
    "read_financial_csv",
]

MAX_BATCH = 10_000
_UUID = re.compile(r"[0-9]{9}")


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


def build_app(table: Table, *, region: str) -> Starlette:
    """The HTTP app over `table` (key: uuid)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "region": region})

    async def one(request: Request) -> JSONResponse:
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

    async def batch(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            uuids = body["uuids"]
            if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"error": "BadRequest", "message": 'body must be {"uuids": [string, ...]}'}, 400
            )
        if len(uuids) > MAX_BATCH:
            return JSONResponse(
                {"error": "BadRequest", "message": f"at most {MAX_BATCH} uuids per request"}, 400
            )
        unique = list(dict.fromkeys(uuids))
        keys = [{"uuid": uuid} for uuid in unique if _UUID.fullmatch(uuid)]
        found = {str(item["uuid"]): _record(item) for item in table.get_many(keys)}
        missing = [uuid for uuid in unique if uuid not in found]
        return JSONResponse({"found": found, "missing": missing})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/financials:batch", batch, methods=["POST"]),
            Route("/financials/{uuid}", one),
        ]
    )


class EnrichmentUnavailableError(MrBatchError):
    """The enrichment API did not answer; the task is retried (see the chunk processor)."""


class HttpFinancialSource:
    """`FinancialSource` over the enrichment API's batch endpoint: one request per chunk."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout)

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """See `mrbatch.pipeline.FinancialSource.lookup`."""
        found: dict[str, FinancialRecord] = {}
        unique = list(dict.fromkeys(uuids))
        for start in range(0, len(unique), MAX_BATCH):
            batch = unique[start : start + MAX_BATCH]
            try:
                response = self._client.post("/financials:batch", json={"uuids": batch})
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise EnrichmentUnavailableError(f"enrichment API failed: {exc}") from exc
            for uuid, item in response.json()["found"].items():
                found[uuid] = record_from_item(item)
        return found

    def close(self) -> None:
        self._client.close()
