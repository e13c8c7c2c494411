"""The enrichment API over a real HTTP server, and the HTTP financial source on top of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mrbatch.errors import InputFileError
from mrbatch.runtime.enrichment import (
    EnrichmentUnavailableError,
    HttpFinancialSource,
    build_app,
    read_financial_csv,
)
from mrbatch.runtime.gateway import GatewayServer
from mrbatch.state import FINANCIALS, MemoryTable

ROW = {
    "uuid": "535113847",
    "unitsSold": "934",
    "unitPrice": "152.58",
    "unitCost": "97.44",
    "totalRevenue": "142509.72",
    "totalCost": "91008.96",
    "totalProfit": "51500.76",
}


@pytest.fixture
def api() -> Iterator[str]:
    table = MemoryTable(FINANCIALS)
    table.put(dict(ROW))
    with GatewayServer(build_app(table, region="us-east-1")) as server:
        yield server.url


def test_known_uuid_returns_values_exactly_as_loaded(api: str) -> None:
    response = httpx.get(f"{api}/financials/535113847")
    assert (response.status_code, response.json()) == (200, ROW)


def test_unknown_uuid_is_404_json(api: str) -> None:
    response = httpx.get(f"{api}/financials/999999999")
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "message": "no financial data for uuid 999999999",
    }


@pytest.mark.parametrize("bad", ["12345", "12345678X", "1234567890"])
def test_malformed_uuid_is_400(api: str, bad: str) -> None:
    response = httpx.get(f"{api}/financials/{bad}")
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"


def test_batch_lookup_splits_found_and_missing_in_order(api: str) -> None:
    response = httpx.post(
        f"{api}/financials:batch", json={"uuids": ["999999999", "535113847", "bad", "535113847"]}
    )
    assert response.json() == {"found": {"535113847": ROW}, "missing": ["999999999", "bad"]}


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"uuids": [1, 2]}', b'{"uuids": "x"}'])
def test_batch_lookup_rejects_malformed_bodies(api: str, body: bytes) -> None:
    response = httpx.post(f"{api}/financials:batch", content=body)
    assert response.status_code == 400


def test_http_financial_source_returns_records(api: str) -> None:
    source = HttpFinancialSource(api)
    try:
        found = source.lookup(["535113847", "999999999"])
    finally:
        source.close()
    assert list(found) == ["535113847"]
    assert (found["535113847"].unit_price, found["535113847"].total_profit) == (
        "152.58",
        "51500.76",
    )


def test_http_financial_source_reports_an_unreachable_api() -> None:
    with GatewayServer(build_app(MemoryTable(FINANCIALS), region="x")) as server:
        url = server.url
    source = HttpFinancialSource(url, timeout=2)
    with pytest.raises(EnrichmentUnavailableError, match="enrichment API failed"):
        source.lookup(["535113847"])
    source.close()


def test_financial_csv_with_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fin.csv"
    path.write_text("uuid,units\n1,2\n")
    with pytest.raises(InputFileError, match="financial data header must be"):
        list(read_financial_csv(path))
