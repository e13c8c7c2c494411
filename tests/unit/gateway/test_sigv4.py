"""SigV4 against AWS's published test vectors and botocore's own signer."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.sigv4 import (
    EMPTY_SHA256,
    SignedRequest,
    SigV4Verifier,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    parse_amz_date,
)

# The "aws-sig-v4-test-suite" (AWS General Reference), service "service", us-east-1.
SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_DATE = "20150830T123600Z"
SUITE_SIGNED = "host;x-amz-date"
SUITE_VECTORS = [
    # name, raw path, raw query, extra headers, signed headers, signature
    (
        "get-vanilla",
        "/",
        "",
        [],
        SUITE_SIGNED,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "get-vanilla-empty-query-key",
        "/",
        "Param1=value1",
        [],
        SUITE_SIGNED,
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    ),
    (
        "get-vanilla-query-order-key-case",
        "/",
        "Param2=value2&Param1=value1",
        [],
        SUITE_SIGNED,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-vanilla-query-order-value",
        "/",
        "Param1=value2&Param1=value1",
        [],
        SUITE_SIGNED,
        "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    ),
    (
        "get-unreserved",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "",
        [],
        SUITE_SIGNED,
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    (
        "get-utf8",
        "/\u1234",
        "",
        [],
        SUITE_SIGNED,
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ),
    (
        "get-header-key-duplicate",
        "/",
        "",
        [("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ),
    (
        "get-header-value-trim",
        "/",
        "",
        [("my-header1", " value1"), ("my-header2", ' "a   b   c"')],
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
]


def _suite_request(
    path: str, query: str, extra: list[tuple[str, str]], signed: str, sig: str
) -> SignedRequest:
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={sig}"
    )
    headers = [("host", "example.amazonaws.com"), *extra, ("x-amz-date", SUITE_DATE)]
    return SignedRequest("GET", path, query, (*headers, ("authorization", authorization)))


def _suite_verifier() -> SigV4Verifier:
    return SigV4Verifier([SUITE], clock=lambda: parse_amz_date(SUITE_DATE), service=None)


@pytest.mark.parametrize(("name", "path", "query", "extra", "signed", "sig"), SUITE_VECTORS)
def test_published_vector_verifies(
    name: str, path: str, query: str, extra: list[tuple[str, str]], signed: str, sig: str
) -> None:
    request = _suite_request(path, query, extra, signed, sig)
    verified = _suite_verifier().verify(request, body_sha256=EMPTY_SHA256)
    assert verified.credentials == SUITE
    assert verified.signature == sig


@pytest.mark.parametrize(("name", "path", "query", "extra", "signed", "sig"), SUITE_VECTORS)
def test_published_vector_with_one_changed_digit_is_refused(
    name: str, path: str, query: str, extra: list[tuple[str, str]], signed: str, sig: str
) -> None:
    tampered = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    with pytest.raises(S3Error) as caught:
        _suite_verifier().verify(
            _suite_request(path, query, extra, signed, tampered), body_sha256=EMPTY_SHA256
        )
    assert (caught.value.code, caught.value.status) == ("SignatureDoesNotMatch", 403)


def test_canonical_request_matches_the_published_one_for_duplicate_headers() -> None:
    headers = [
        ("host", "example.amazonaws.com"),
        ("my-header1", "value2"),
        ("my-header1", "value2"),
        ("my-header1", "value1"),
        ("x-amz-date", SUITE_DATE),
    ]
    signed = ["host", "my-header1", "x-amz-date"]
    creq = canonical_request(
        "GET",
        canonical_uri("/"),
        canonical_query(""),
        canonical_headers(headers, signed),
        signed,
        EMPTY_SHA256,
    )
    assert creq == (
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
        "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + EMPTY_SHA256
    )


# AWS S3 documentation, "Example: GET Object" (first 10 bytes of examplebucket/test.txt).
S3_DOC = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_s3_documentation_get_object_example_verifies() -> None:
    sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    request = SignedRequest(
        "GET",
        "/test.txt",
        "",
        (
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                "s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature="
                + sig,
            ),
        ),
    )
    verifier = SigV4Verifier([S3_DOC], clock=lambda: parse_amz_date("20130524T000000Z"))
    assert verifier.verify(request).payload_hash == EMPTY_SHA256


# --- against botocore's signer -----------------------------------------------------------

CREDS = Credentials("MRBKTESTTESTTESTTEST", "not-a-real-secret/with+odd=chars")


def _botocore_signed(
    method: str, url: str, body: bytes, headers: dict[str, str], *, s3: bool = True
) -> SignedRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = S3SigV4Auth if s3 else SigV4Auth
    signer(
        BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key),
        "s3" if s3 else "execute-api",
        "us-east-1",
    ).add_auth(request)
    prepared = request.prepare()
    path, _, query = prepared.url.split("://", 1)[1].partition("/")[2].partition("?")
    host = prepared.url.split("://", 1)[1].split("/", 1)[0]
    pairs = [("host", host)] + [
        (k.lower(), v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()
    ]
    return SignedRequest(method, "/" + path, query, tuple(pairs))


def _clock_for(request: SignedRequest) -> float:
    return parse_amz_date(request.header("x-amz-date") or "")


@pytest.mark.parametrize(
    "key_path",
    [
        "mrbatch/input/plain.csv",
        "mrbatch/a%20b/%C3%A9t%C3%A9%2Bplus%3Dequals.csv",
        "mrbatch/x/%21%27%28%29%2A.txt",
        "mrbatch/",
    ],
)
def test_botocore_signed_request_verifies(key_path: str) -> None:
    url = f"http://127.0.0.1:9000/{key_path}?list-type=2&prefix=a%2Fb&max-keys=5"
    request = _botocore_signed("GET", url, b"", {"x-amz-meta-owner": "me"})
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request))
    assert verifier.verify(request).credentials == CREDS


def test_botocore_signed_request_with_changed_query_is_refused() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch?list-type=2&prefix=a", b"", {})
    changed = SignedRequest(
        request.method, request.raw_path, "list-type=2&prefix=b", request.headers
    )
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request))
    with pytest.raises(S3Error) as caught:
        verifier.verify(changed)
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "prefix=b" in caught.value.details["CanonicalRequest"]


def test_non_s3_signature_uses_the_body_hash_given_by_the_caller() -> None:
    import hashlib

    body = b'{"region": "us-west-2"}'
    request = _botocore_signed("POST", "http://127.0.0.1:9000/control/active", body, {}, s3=False)
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request), service=None)
    verifier.verify(request, body_sha256=hashlib.sha256(body).hexdigest())
    with pytest.raises(S3Error):
        verifier.verify(request, body_sha256=hashlib.sha256(b"{}").hexdigest())


def test_unknown_access_key_is_invalid_access_key_id() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    verifier = SigV4Verifier([Credentials("OTHER", "x")], clock=lambda: _clock_for(request))
    with pytest.raises(S3Error) as caught:
        verifier.verify(request)
    assert (caught.value.code, caught.value.status) == ("InvalidAccessKeyId", 403)


def test_request_signed_16_minutes_ago_is_too_skewed() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) + 16 * 60)
    with pytest.raises(S3Error) as caught:
        verifier.verify(request)
    assert (caught.value.code, caught.value.status) == ("RequestTimeTooSkewed", 403)


def test_request_signed_14_minutes_ago_is_accepted() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    verified = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) + 14 * 60).verify(request)
    assert (verified.credentials, verified.timestamp, verified.presigned) == (
        CREDS,
        request.header("x-amz-date"),
        False,
    )
    assert verified.payload_hash == EMPTY_SHA256


def test_request_dated_16_minutes_in_the_future_is_too_skewed() -> None:
    # The server's clock is 16 minutes behind the X-Amz-Date botocore wrote: S3 refuses a
    # request skewed either way, so a request signed ahead of time cannot be held back.
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) - 16 * 60)
    with pytest.raises(S3Error) as caught:
        verifier.verify(request)
    assert (caught.value.code, caught.value.status) == ("RequestTimeTooSkewed", 403)
    assert caught.value.details["RequestTime"] == request.header("x-amz-date")


def test_request_dated_14_minutes_in_the_future_is_accepted() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    verified = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) - 14 * 60).verify(request)
    assert (verified.credentials, verified.timestamp) == (CREDS, request.header("x-amz-date"))


def test_unsigned_amz_header_added_after_signing_is_refused() -> None:
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    added = SignedRequest(
        request.method,
        request.raw_path,
        request.raw_query,
        (*request.headers, ("x-amz-meta-evil", "1")),
    )
    with pytest.raises(S3Error) as caught:
        SigV4Verifier([CREDS], clock=lambda: _clock_for(request)).verify(added)
    assert caught.value.code == "AccessDenied"
    assert "x-amz-meta-evil" in caught.value.message


def test_anonymous_request_is_access_denied() -> None:
    request = SignedRequest("GET", "/mrbatch/k", "", (("host", "127.0.0.1:9000"),))
    with pytest.raises(S3Error) as caught:
        SigV4Verifier([CREDS]).verify(request)
    assert (caught.value.code, caught.value.status) == ("AccessDenied", 403)


def test_amz_date_round_trip() -> None:
    moment = dt.datetime(2013, 5, 24, tzinfo=dt.UTC).timestamp()
    assert parse_amz_date("20130524T000000Z") == moment
