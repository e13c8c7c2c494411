"""The enrichment API over a real HTTP server, and the HTTP financial source on top of it.

The API takes only requests SigV4-signed with the stack's credentials for `execute-api`,
over their exact body, as API Gateway's IAM authorization does; tests sign with botocore
(an independent signer), and bodies are bounded."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from mrbatch.accesspoint import Credentials, GatewayServer, generate_credentials
from mrbatch.enrichment.api import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    EnrichmentUnavailableError,
    HttpFinancialSource,
    build_app,
    read_financial_csv,
)
from mrbatch.enrichment.table import TableFinancialSource, values_text
from mrbatch.errors import InputFileError
from mrbatch.pipeline import FINANCIAL_COLUMNS
from mrbatch.pipeline.enrich import csv_value
from mrbatch.state import FINANCIALS, MemoryTable, open_region_tables
from mrbatch.state.sqlite import RegionTables

ROW = {
    "uuid": "535113847",
    "unitsSold": "934",
    "unitPrice": "152.58",
    "unitCost": "97.44",
    "totalRevenue": "142509.72",
    "totalCost": "91008.96",
    "totalProfit": "51500.76",
}
CREDENTIALS = generate_credentials()


@pytest.fixture
def api() -> Iterator[str]:
    table = MemoryTable(FINANCIALS)
    table.put(dict(ROW))
    with GatewayServer(build_app(table, region="us-east-1", credentials=[CREDENTIALS])) as server:
        yield server.url


def signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    credentials: Credentials = CREDENTIALS,
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers that sign `method url body` with botocore's SigV4 signer."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    boto = BotoCredentials(credentials.access_key_id, credentials.secret_access_key)
    SigV4Auth(boto, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def get(url: str) -> httpx.Response:
    return httpx.get(url, headers=signed("GET", url))


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers=signed("POST", url, body))


def test_known_uuid_returns_values_exactly_as_loaded(api: str) -> None:
    response = get(f"{api}/financials/535113847")
    assert (response.status_code, response.json()) == (200, ROW)


def test_unknown_uuid_is_404_json(api: str) -> None:
    response = get(f"{api}/financials/999999999")
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "message": "no financial data for uuid 999999999",
    }


@pytest.mark.parametrize("bad", ["12345", "12345678X", "1234567890"])
def test_malformed_uuid_is_400(api: str, bad: str) -> None:
    response = get(f"{api}/financials/{bad}")
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"


def test_batch_lookup_splits_found_and_missing_in_order(api: str) -> None:
    body = json.dumps({"uuids": ["999999999", "535113847", "bad", "535113847"]}).encode()
    response = post(f"{api}/financials:batch", body)
    assert response.json() == {"found": {"535113847": ROW}, "missing": ["999999999", "bad"]}


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"uuids": [1, 2]}', b'{"uuids": "x"}'])
def test_batch_lookup_rejects_malformed_bodies(api: str, body: bytes) -> None:
    response = post(f"{api}/financials:batch", body)
    assert response.status_code == 400


def test_health_needs_no_signature(api: str) -> None:
    response = httpx.get(f"{api}/health")
    assert (response.status_code, response.json()["status"]) == (200, "ok")


@pytest.mark.parametrize("path", ["/financials/535113847", "/financials:batch"])
def test_unsigned_request_is_refused_403(api: str, path: str) -> None:
    method = "POST" if path.endswith("batch") else "GET"
    response = httpx.request(method, f"{api}{path}", json={"uuids": ["535113847"]})
    assert response.status_code == 403
    assert "535113847" not in response.text
    assert response.json()["message"]


def test_request_signed_with_other_credentials_is_refused_403(api: str) -> None:
    url = f"{api}/financials/535113847"
    response = httpx.get(url, headers=signed("GET", url, credentials=generate_credentials()))
    assert response.status_code == 403
    assert response.json()["error"] == "InvalidAccessKeyId"


def test_request_signed_with_a_wrong_secret_is_refused_403(api: str) -> None:
    url = f"{api}/financials/535113847"
    forged = Credentials(CREDENTIALS.access_key_id, "not-the-secret")
    response = httpx.get(url, headers=signed("GET", url, credentials=forged))
    assert (response.status_code, response.json()["error"]) == (403, "SignatureDoesNotMatch")


def test_request_signed_for_another_service_is_refused_403(api: str) -> None:
    url = f"{api}/financials/535113847"
    response = httpx.get(url, headers=signed("GET", url, service="s3"))
    assert response.status_code == 403


def test_signed_request_with_another_body_is_refused_403(api: str) -> None:
    url = f"{api}/financials:batch"
    headers = signed("POST", url, b'{"uuids": ["111111111"]}')
    response = httpx.post(url, content=b'{"uuids": ["535113847"]}', headers=headers)
    assert response.status_code == 403
    assert "535113847" not in response.text


def test_unsigned_payload_is_refused_403(api: str) -> None:
    url = f"{api}/financials:batch"
    declared = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    headers = signed("POST", url, b"", headers=declared)
    response = httpx.post(url, content=b'{"uuids": ["535113847"]}', headers=headers)
    assert response.status_code == 403
    assert "535113847" not in response.text


def _raw_exchange(url: str, head: bytes, body: bytes) -> bytes:
    """Send `head` and `body` on one socket and return the status line of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + body)
        return conn.makefile("rb").readline()


def test_declared_body_over_the_limit_is_refused_413_before_it_is_sent(api: str) -> None:
    head = (
        b"POST /financials:batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 33554432\r\n\r\n"
    )
    # only the head goes out: the answer must come without the 32 MB being read
    assert _raw_exchange(api, head, b"").startswith(b"HTTP/1.1 413")


def test_streamed_body_over_the_limit_is_refused_413(api: str) -> None:
    head = b"POST /financials:batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    body = chunk * (MAX_BODY_BYTES // 0x8000 + 2)  # no terminating chunk: never complete
    assert _raw_exchange(api, head, body).startswith(b"HTTP/1.1 413")


def test_more_ids_than_a_batch_holds_are_refused_400(api: str) -> None:
    body = json.dumps({"uuids": [f"{n:09d}" for n in range(MAX_BATCH + 1)]}).encode()
    assert len(body) <= MAX_BODY_BYTES
    response = post(f"{api}/financials:batch", body)
    assert response.status_code == 400
    assert "at most" in response.json()["message"]


def test_http_financial_source_signs_and_returns_records(api: str) -> None:
    source = HttpFinancialSource(api, credentials=CREDENTIALS)
    try:
        found = source.lookup(["535113847", "999999999", "not-a-uuid"])
    finally:
        source.close()
    assert list(found) == ["535113847"]
    assert (found["535113847"].unit_price, found["535113847"].total_profit) == (
        "152.58",
        "51500.76",
    )


def test_http_financial_source_sends_more_ids_than_a_batch_in_several_requests(api: str) -> None:
    source = HttpFinancialSource(api, credentials=CREDENTIALS)
    try:
        found = source.lookup([f"{n:09d}" for n in range(MAX_BATCH * 2 + 5)] + ["535113847"])
    finally:
        source.close()
    assert list(found) == ["535113847"]


def test_http_financial_source_with_other_credentials_is_refused(api: str) -> None:
    source = HttpFinancialSource(api, credentials=generate_credentials())
    try:
        with pytest.raises(EnrichmentUnavailableError, match="403"):
            source.lookup(["535113847"])
    finally:
        source.close()


def test_http_financial_source_reports_an_unreachable_api() -> None:
    app = build_app(MemoryTable(FINANCIALS), region="x", credentials=[CREDENTIALS])
    with GatewayServer(app) as server:
        url = server.url
    source = HttpFinancialSource(url, credentials=CREDENTIALS, timeout=2)
    with pytest.raises(EnrichmentUnavailableError, match="enrichment API failed"):
        source.lookup(["535113847"])
    source.close()


def test_financial_csv_with_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fin.csv"
    path.write_text("uuid,units\n1,2\n")
    with pytest.raises(InputFileError, match="financial data header must be"):
        list(read_financial_csv(path))


def test_values_route_answers_in_request_order_with_null_for_unknown(api: str) -> None:
    uuids = ["999999999", "535113847", "bad", "535113847"]
    response = post(f"{api}/financials:values", json.dumps({"uuids": uuids}).encode())
    text = "934,152.58,97.44,142509.72,91008.96,51500.76"
    assert (response.status_code, response.json()) == (200, {"values": [None, text, None, text]})


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"uuids": [1, 2]}', b'{"uuids": "x"}'])
def test_values_route_rejects_malformed_bodies(api: str, body: bytes) -> None:
    assert post(f"{api}/financials:values", body).status_code == 400


def test_values_text_quotes_only_what_the_csv_writer_quotes() -> None:
    item = {
        **ROW,
        "unitsSold": "1,000",
        "unitPrice": 'say "5"',
        "unitCost": "a\nb",
        "totalCost": "",
    }
    expected = '"1,000","say ""5""","a\nb",142509.72,,51500.76'
    assert values_text(item) == expected
    frame = pl.DataFrame({name: [str(item[name])] for name in FINANCIAL_COLUMNS[1:]})
    as_written = pl.concat_str([csv_value(pl.col(name)) for name in frame.columns], separator=",")
    assert frame.select(as_written).item() == expected


def test_http_values_are_aligned_with_the_rows_and_null_where_unknown(api: str) -> None:
    source = HttpFinancialSource(api, credentials=CREDENTIALS)
    uuids = pl.Series(["535113847", "999999999", "not-a-uuid", "535113847", ""])
    try:
        values = source.lookup_values(uuids)
    finally:
        source.close()
    text = "934,152.58,97.44,142509.72,91008.96,51500.76"
    assert values.to_list() == [text, None, None, text, None]


def test_http_values_for_more_ids_than_a_batch_take_several_requests(api: str) -> None:
    source = HttpFinancialSource(api, credentials=CREDENTIALS)
    uuids = pl.Series([f"{n:09d}" for n in range(MAX_BATCH * 2 + 5)] + ["535113847"])
    try:
        values = source.lookup_values(uuids)
    finally:
        source.close()
    assert values.null_count() == len(uuids) - 1 and values[-1] is not None


def test_table_values_match_the_api_values() -> None:
    table = MemoryTable(FINANCIALS)
    table.put(dict(ROW))
    values = TableFinancialSource(table).lookup_values(pl.Series(["1", "535113847"]))
    assert values.to_list() == [None, "934,152.58,97.44,142509.72,91008.96,51500.76"]


ODD_ITEMS = [
    {**ROW, "uuid": "100000001", "unitsSold": "1,000", "unitPrice": 'say "5"', "totalCost": ""},
    {**ROW, "uuid": "100000002", "unitCost": "a\nb", "totalRevenue": "c\rd"},
    {**ROW, "uuid": "100000003", "unitsSold": "café", "unitPrice": "a\\b", "unitCost": "]"},
    {**ROW, "uuid": "100000004", "unitsSold": 934, "unitPrice": 1.5, "unitCost": True},
    {**ROW, "uuid": "100000005", "unitsSold": '","', "totalProfit": "[1]"},
    {**ROW, "uuid": "100000006", "unitsSold": None},
    {**ROW, "uuid": "100000007", "totalProfit": "1,000"},
    {**ROW, "uuid": "100000008", "totalProfit": 5},
]


def _odd_items_in_sqlite(path: Path) -> tuple[RegionTables, list[dict[str, Any]]]:
    """Region tables at `path` whose financial table holds ROW, every odd item and 450
    plain ones (more than one SQL batch), and once held 100000009 (deleted); the items."""
    sqlite = open_region_tables(path, origin="us-east-1")
    plain = [{**ROW, "uuid": f"2{n:08d}", "unitsSold": str(n)} for n in range(450)]
    items = [dict(ROW), *ODD_ITEMS, *plain]
    sqlite.financials.put_many(items)
    sqlite.financials.put({**ROW, "uuid": "100000009"})
    sqlite.financials.delete({"uuid": "100000009"})
    return sqlite, items


def test_values_route_over_sqlite_answers_what_values_text_gives_for_any_item(
    tmp_path: Path,
) -> None:
    sqlite, items = _odd_items_in_sqlite(tmp_path / "tables.db")
    uuids = ["999999999", "100000009", "bad", *(str(item["uuid"]) for item in reversed(items))]
    expected = [None, None, None, *(values_text(item) for item in reversed(items))]
    app = build_app(sqlite.financials, region="us-east-1", credentials=[CREDENTIALS])
    try:
        with GatewayServer(app) as server:
            body = json.dumps({"uuids": [*uuids, ROW["uuid"]]}).encode()
            response = post(f"{server.url}/financials:values", body)
    finally:
        sqlite.close()
    assert response.status_code == 200
    assert response.json()["values"] == [*expected, values_text(ROW)]


def test_table_source_over_sqlite_gives_what_values_text_gives_for_any_item(
    tmp_path: Path,
) -> None:
    """The workers' lookup (the table read in SQL): every odd item as `values_text` has it,
    repeated and unknown uuids aligned with the rows, a deleted item unknown."""
    sqlite, items = _odd_items_in_sqlite(tmp_path / "tables.db")
    known = [str(item["uuid"]) for item in reversed(items)]
    uuids = ["999999999", "100000009", "", *known, known[0], known[-1]]
    expected = [None, None, None, *(values_text(item) for item in reversed(items))]
    try:
        values = TableFinancialSource(sqlite.financials).lookup_values(pl.Series(uuids))
    finally:
        sqlite.close()
    assert values.to_list() == [*expected, expected[3], expected[-1]]
