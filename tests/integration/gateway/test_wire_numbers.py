"""Numbers read off the wire, crafted: never a 500, always S3's answer for that entry point.

Each case goes through a real gateway over HTTP. The crafted values are those Python's
`str.isdigit` accepts but `int` refuses (`²`), digits of other scripts that `int` does accept
(`٣`, Arabic-Indic three: a number S3 would not read), a number longer than Python's
4,300-digit limit for `int`, and the forms `int` tolerates but S3 does not (sign, spaces,
underscores).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from mrbatch.accesspoint import Credentials, presign_get_url

from .conftest import EAST, Gateway

HUGE = "9" * 5000  # past Python's int() digit limit (4,300)
CRAFTED = ["²", "٣", HUGE, "-1", "+1", " 1", "1_0", ""]


def _short(value: object) -> str:
    """A readable test id for a crafted value (5,000 digits would drown the report)."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:8]}...({len(text)} chars)"


def _code(response: httpx.Response) -> str:
    return response.text.split("<Code>")[1].split("</Code>")[0]


def _signed(
    gateway: Gateway,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
) -> httpx.Response:
    """A request signed by botocore (an independent signer) with the gateway's credentials;
    `chunked` declares the body aws-chunked with a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
    what botocore sends over HTTPS)."""
    request = AWSRequest(
        method=method, url=gateway.url + path_and_query, data=body, headers=headers or {}
    )
    if chunked:
        request.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    creds = gateway.credentials
    S3SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3", "us-east-1"
    ).add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, content=body, headers=dict(prepared.headers))


def _create_upload(gateway: Gateway, key: str) -> str:
    upload_id: str = gateway.client().create_multipart_upload(Bucket="mrbatch", Key=key)["UploadId"]
    return upload_id


@pytest.mark.parametrize("expires", CRAFTED, ids=_short)
def test_crafted_expires_is_400_without_credentials(gateway: Gateway, expires: str) -> None:
    # Signed with a key the gateway does not know: the number is read before any secret is.
    stranger = Credentials("AKIASTRANGER0000000", "not-the-secret")
    url = presign_get_url(gateway.url, "mrbatch", "a.csv", stranger, expires_in=60)
    response = httpx.get(url.replace("X-Amz-Expires=60", f"X-Amz-Expires={quote(expires)}"))
    assert (response.status_code, _code(response)) == (400, "AuthorizationQueryParametersError")


def _range_get(gateway: Gateway, value: str) -> httpx.Response:
    """GET through a presigned link (what an emailed recipient holds) with a Range header."""
    gateway.stores[EAST].put("r.bin", bytes(range(100)))
    url = presign_get_url(gateway.url, "mrbatch", "r.bin", gateway.credentials)
    return httpx.get(url, headers={"range": value.encode("utf-8")})


@pytest.mark.parametrize(
    "value",
    [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", "bytes=100-", "bytes=-0"],
    ids=_short,
)
def test_unsatisfiable_range_is_416_invalid_range(gateway: Gateway, value: str) -> None:
    response = _range_get(gateway, value)
    assert (response.status_code, _code(response)) == (416, "InvalidRange")
    assert "<ActualObjectSize>100</ActualObjectSize>" in response.text


@pytest.mark.parametrize("value", [f"bytes=0-{HUGE}", f"bytes=-{HUGE}", "bytes=0-"], ids=_short)
def test_range_past_the_end_is_the_whole_object_as_206(gateway: Gateway, value: str) -> None:
    response = _range_get(gateway, value)
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 0-99/100"
    assert response.content == bytes(range(100))


@pytest.mark.parametrize(
    "value",
    ["bytes=²-", "bytes=٣-5", "bytes= 1-5", "bytes=+1-5", "bytes=1_0-20", "bytes=5-2", "bits=1-2"],
)
def test_malformed_range_is_ignored_and_the_whole_object_sent(gateway: Gateway, value: str) -> None:
    # S3 ignores a Range it cannot parse (RFC 9110 allows it), and one whose last byte comes
    # before its first, and answers 200 with the whole object.
    response = _range_get(gateway, value)
    assert (response.status_code, response.content) == (200, bytes(range(100)))
    assert "content-range" not in response.headers


@pytest.mark.parametrize("value", [*CRAFTED, "2147483648"], ids=_short)
def test_crafted_max_keys_is_400_invalid_argument(gateway: Gateway, value: str) -> None:
    response = _signed(gateway, "GET", f"/mrbatch?list-type=2&max-keys={quote(value)}")
    assert (response.status_code, _code(response)) == (400, "InvalidArgument")
    assert "max-keys" in response.text


def test_max_keys_at_the_top_of_the_integer_range_is_capped_at_1000(gateway: Gateway) -> None:
    gateway.stores[EAST].put("k.csv", b"k")
    response = _signed(gateway, "GET", "/mrbatch?list-type=2&max-keys=2147483647")
    assert response.status_code == 200
    assert "<MaxKeys>1000</MaxKeys>" in response.text


@pytest.mark.parametrize("value", [*CRAFTED, "0", "10001"], ids=_short)
def test_crafted_part_number_is_400_invalid_argument(gateway: Gateway, value: str) -> None:
    upload_id = _create_upload(gateway, "big.csv")
    response = _signed(
        gateway, "PUT", f"/mrbatch/big.csv?partNumber={quote(value)}&uploadId={upload_id}", b"x"
    )
    assert (response.status_code, _code(response)) == (400, "InvalidArgument")
    assert "partNumber" in response.text


@pytest.mark.parametrize("name", ["max-parts", "part-number-marker"], ids=_short)
@pytest.mark.parametrize("value", CRAFTED, ids=_short)
def test_crafted_list_parts_paging_is_400_invalid_argument(
    gateway: Gateway, name: str, value: str
) -> None:
    upload_id = _create_upload(gateway, "big.csv")
    response = _signed(
        gateway, "GET", f"/mrbatch/big.csv?uploadId={upload_id}&{name}={quote(value)}"
    )
    assert (response.status_code, _code(response)) == (400, "InvalidArgument")


@pytest.mark.parametrize("value", [v for v in CRAFTED if v != " 1"] + ["0", "10001"], ids=_short)
def test_crafted_part_number_in_complete_xml_is_400_malformed_xml(
    gateway: Gateway, value: str
) -> None:
    upload_id = _create_upload(gateway, "big.csv")
    document = (
        "<CompleteMultipartUpload><Part>"
        f'<PartNumber>{value}</PartNumber><ETag>"0123"</ETag>'
        "</Part></CompleteMultipartUpload>"
    ).encode()
    response = _signed(gateway, "POST", f"/mrbatch/big.csv?uploadId={upload_id}", document)
    assert (response.status_code, _code(response)) == (400, "MalformedXML")


@pytest.mark.parametrize("size", ["-5", " 5", "0x5", "5_0", "٥", "f" * 5000], ids=_short)
def test_crafted_aws_chunked_size_is_400_and_stores_nothing(gateway: Gateway, size: str) -> None:
    body = size.encode() + b"\r\nhello\r\n0\r\n\r\n"
    response = _signed(
        gateway,
        "PUT",
        "/mrbatch/chunked.csv",
        body,
        {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5"},
        chunked=True,
    )
    assert response.request.headers["x-amz-content-sha256"] == (
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    )
    assert (response.status_code, _code(response)) == (400, "InvalidRequest")
    assert list(gateway.stores[EAST].list("chunked")) == []


def test_boto3_still_pages_parts_and_keys_with_ordinary_numbers(gateway: Gateway) -> None:
    s3 = gateway.client()
    for i in range(3):
        s3.put_object(Bucket="mrbatch", Key=f"p/{i}.csv", Body=b"x")
    page = s3.list_objects_v2(Bucket="mrbatch", Prefix="p/", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["p/0.csv", "p/1.csv"]
    assert page["IsTruncated"] is True
