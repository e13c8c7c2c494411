"""SigV4 against AWS's published test vectors and botocore's own signer."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.presign import presign_get_url
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.sigv4 import (
    EMPTY_SHA256,
    CredentialScope,
    SignedRequest,
    SigV4Verifier,
    Verified,
    amz_date,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    parse_amz_date,
    signing_key,
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


# --- what each refusal says (the S3 error a client reads) --------------------------------

# get-vanilla's canonical request and string to sign, as published in the test suite
VANILLA_CREQ = (
    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
VANILLA_STS = (
    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


def _refusal(
    request: SignedRequest,
    *,
    now: float,
    verifier: SigV4Verifier | None = None,
    body_sha256: str | None = None,
) -> S3Error:
    with pytest.raises(S3Error) as caught:
        (verifier or SigV4Verifier([CREDS], clock=lambda: now)).verify(
            request, body_sha256=body_sha256
        )
    return caught.value


def _said(error: S3Error) -> tuple[str, str, int, dict[str, str]]:
    return error.code, error.message, error.status, error.details


def test_signature_mismatch_shows_the_published_canonical_request_and_string_to_sign() -> None:
    wrong = "0" * 64
    request = _suite_request("/", "", [], SUITE_SIGNED, wrong)
    error = _refusal(
        request,
        now=parse_amz_date(SUITE_DATE),
        verifier=_suite_verifier(),
        body_sha256=EMPTY_SHA256,
    )
    assert _said(error) == (
        "SignatureDoesNotMatch",
        MISMATCH,
        403,
        {
            "AWSAccessKeyId": "AKIDEXAMPLE",
            "StringToSign": VANILLA_STS,
            "SignatureProvided": wrong,
            "CanonicalRequest": VANILLA_CREQ,
        },
    )


def test_signing_key_matches_the_published_derivation_example() -> None:
    # AWS General Reference, "Examples of how to derive a signing key" (IAM, 2012-02-15)
    key = signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", CredentialScope("20120215", "us-east-1", "iam")
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


# AWS S3 documentation, "Authenticating Requests: Using Query Parameters" (examplebucket)
S3_DOC_PRESIGNED = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)
S3_DOC_HOST = (("host", "examplebucket.s3.amazonaws.com"),)
S3_DOC_TIME = parse_amz_date("20130524T000000Z")


def _s3_doc_verifier(now: float) -> SigV4Verifier:
    return SigV4Verifier([S3_DOC], clock=lambda: now)


def test_s3_documentation_presigned_url_verifies_with_everything_it_claims() -> None:
    request = SignedRequest("GET", "/test.txt", S3_DOC_PRESIGNED, S3_DOC_HOST)
    verified = _s3_doc_verifier(S3_DOC_TIME + 86400).verify(request)  # its last second
    assert verified == Verified(
        credentials=S3_DOC,
        scope=CredentialScope("20130524", "us-east-1", "s3"),
        timestamp="20130524T000000Z",
        signature="aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        payload_hash="UNSIGNED-PAYLOAD",
        presigned=True,
    )
    assert verified.signing_key() == signing_key(
        S3_DOC.secret_access_key, CredentialScope("20130524", "us-east-1", "s3")
    )


def test_expired_presigned_url_says_when_it_expired_and_the_server_time() -> None:
    request = SignedRequest("GET", "/test.txt", S3_DOC_PRESIGNED, S3_DOC_HOST)
    error = _refusal(request, now=0, verifier=_s3_doc_verifier(S3_DOC_TIME + 86401))
    assert _said(error) == (
        "AccessDenied",
        "Request has expired",
        403,
        {"X-Amz-Expires": "86400", "Expires": "20130525T000000Z", "ServerTime": "20130525T000001Z"},
    )


def test_presigned_url_dated_exactly_the_allowed_skew_ahead_verifies() -> None:
    request = SignedRequest("GET", "/test.txt", S3_DOC_PRESIGNED, S3_DOC_HOST)
    assert _s3_doc_verifier(S3_DOC_TIME - 900).verify(request).presigned is True
    error = _refusal(request, now=0, verifier=_s3_doc_verifier(S3_DOC_TIME - 901))
    assert _said(error) == ("AccessDenied", "Request is not valid yet", 403, {})


def test_presigned_url_with_its_own_payload_hash_declares_it() -> None:
    url = presign_get_url("http://127.0.0.1:9000", "mrbatch", "k", CREDS, now=1_000_000.0)
    parts = urlsplit(url)
    query = parts.query + "&X-Amz-Content-Sha256=" + EMPTY_SHA256
    request = SignedRequest("GET", parts.path, query, (("host", parts.netloc),))
    error = _refusal(request, now=1_000_000.0)  # the signature covered UNSIGNED-PAYLOAD
    assert error.code == "SignatureDoesNotMatch"
    assert error.details["CanonicalRequest"].endswith("\n" + EMPTY_SHA256)


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        ("X-Amz-Credential", "X-Amz-Credential"),
        ("X-Amz-Date", "X-Amz-Date"),
        ("X-Amz-Expires", "X-Amz-Expires"),
        ("X-Amz-SignedHeaders", "X-Amz-SignedHeaders"),
        ("X-Amz-Signature", "X-Amz-Signature"),
    ],
)
def test_presigned_url_without_a_parameter_names_it(drop: str, missing: str) -> None:
    query = "&".join(p for p in S3_DOC_PRESIGNED.split("&") if not p.startswith(drop + "="))
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == (
        "AuthorizationQueryParametersError",
        f"Query-string authentication requires {missing}",
        400,
        {},
    )


def test_presigned_url_without_several_parameters_names_them_in_order() -> None:
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z"
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert error.message == (
        "Query-string authentication requires X-Amz-Credential, X-Amz-Expires, "
        "X-Amz-SignedHeaders, X-Amz-Signature"
    )


def test_presigned_url_with_another_algorithm_is_refused() -> None:
    query = S3_DOC_PRESIGNED.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == (
        "AuthorizationQueryParametersError",
        "X-Amz-Algorithm only supports AWS4-HMAC-SHA256",
        400,
        {},
    )


@pytest.mark.parametrize("expires", ["0", "604801", "ten", "-5"])
def test_presigned_url_with_an_expiry_out_of_range_is_refused(expires: str) -> None:
    query = S3_DOC_PRESIGNED.replace("X-Amz-Expires=86400", f"X-Amz-Expires={expires}")
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == (
        "AuthorizationQueryParametersError",
        "X-Amz-Expires must be a number of seconds from 1 to 604800",
        400,
        {},
    )


@pytest.mark.parametrize(
    "credential",
    [
        "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3",  # four parts
        "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request/x",  # six parts
        "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request",  # wrong terminator
        "AKIAIOSFODNN7EXAMPLE/20130524//s3/aws4_request",  # an empty part
    ],
)
def test_malformed_credential_is_refused_with_its_text(credential: str) -> None:
    query = S3_DOC_PRESIGNED.replace(
        "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
        credential.replace("/", "%2F"),
    )
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == (
        "AuthorizationHeaderMalformed",
        f"the Credential {credential!r} is not <key id>/<date>/<region>/<service>/aws4_request",
        400,
        {},
    )


def test_credential_dated_another_day_than_the_request_is_refused() -> None:
    query = S3_DOC_PRESIGNED.replace("%2F20130524%2F", "%2F20130523%2F")
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == (
        "AuthorizationHeaderMalformed",
        "credential date '20130523' does not match X-Amz-Date '20130524T000000Z'",
        400,
        {},
    )


def test_malformed_request_date_is_access_denied() -> None:
    query = S3_DOC_PRESIGNED.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524")
    error = _refusal(SignedRequest("GET", "/test.txt", query, S3_DOC_HOST), now=S3_DOC_TIME)
    assert _said(error) == ("AccessDenied", "X-Amz-Date '20130524' is not a valid date", 403, {})


def test_unknown_access_key_is_named_in_the_error() -> None:
    request = SignedRequest("GET", "/test.txt", S3_DOC_PRESIGNED, S3_DOC_HOST)
    error = _refusal(request, now=S3_DOC_TIME)  # the verifier knows CREDS only
    assert _said(error) == (
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        403,
        {"AWSAccessKeyId": "AKIAIOSFODNN7EXAMPLE"},
    )


def test_scope_of_another_service_is_refused_by_an_s3_verifier() -> None:
    request = _suite_request("/", "", [], SUITE_SIGNED, SUITE_VECTORS[0][5])
    verifier = SigV4Verifier([SUITE], clock=lambda: parse_amz_date(SUITE_DATE))  # service="s3"
    error = _refusal(request, now=0, verifier=verifier, body_sha256=EMPTY_SHA256)
    assert _said(error) == (
        "AuthorizationHeaderMalformed",
        "the credential scope's service must be 's3'",
        400,
        {},
    )


def _header_signed(**changes: str | None) -> SignedRequest:
    """botocore's signed GET with some headers replaced (None: removed)."""
    request = _botocore_signed("GET", "http://127.0.0.1:9000/mrbatch/k", b"", {})
    headers = [(n, changes.get(n.replace("-", "_"), v)) for n, v in request.headers]
    kept = tuple((n, v) for n, v in headers if v is not None)
    return SignedRequest(request.method, request.raw_path, request.raw_query, kept)


def test_header_signed_request_without_a_date_is_access_denied() -> None:
    request = _header_signed(x_amz_date=None)
    error = _refusal(request, now=0)
    assert _said(error) == (
        "AccessDenied",
        "AWS authentication requires a valid x-amz-date header",
        403,
        {},
    )


def test_s3_request_without_a_payload_hash_is_an_invalid_request() -> None:
    request = _header_signed(x_amz_content_sha256=None)
    error = _refusal(request, now=_clock_for(request))
    assert _said(error) == (
        "InvalidRequest",
        "Missing required header for this request: x-amz-content-sha256",
        400,
        {},
    )


def test_the_payload_hash_header_wins_over_the_callers_body_hash() -> None:
    request = _header_signed()
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request))
    assert verifier.verify(request, body_sha256="f" * 64).payload_hash == EMPTY_SHA256


@pytest.mark.parametrize(
    "authorization",
    ["AWS MRBKTESTTESTTESTTEST:c2lnbmF0dXJl", "AWS4-HMAC-SHA512 Credential=x, Signature=y"],
)
def test_authorization_of_another_scheme_is_an_invalid_argument(authorization: str) -> None:
    request = _header_signed(authorization=authorization)
    error = _refusal(request, now=_clock_for(request))
    assert _said(error) == (
        "InvalidArgument",
        "Unsupported Authorization Type; use AWS4-HMAC-SHA256",
        400,
        {"ArgumentName": "Authorization"},
    )


@pytest.mark.parametrize("drop", ["Credential", "SignedHeaders", "Signature"])
def test_authorization_without_one_of_its_parts_is_malformed(drop: str) -> None:
    request = _header_signed()
    value = request.header("authorization") or ""
    algorithm, _, rest = value.partition(" ")
    kept = ", ".join(p.strip() for p in rest.split(",") if not p.strip().startswith(drop + "="))
    error = _refusal(_header_signed(authorization=f"{algorithm} {kept}"), now=_clock_for(request))
    assert _said(error) == (
        "AuthorizationHeaderMalformed",
        "the Authorization header needs Credential, SignedHeaders and Signature",
        400,
        {},
    )


def test_request_skewed_too_far_says_both_times() -> None:
    request = _header_signed()
    signed_at = _clock_for(request)
    error = _refusal(request, now=signed_at + 901)
    assert _said(error) == (
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
        403,
        {
            "RequestTime": request.header("x-amz-date") or "",
            "ServerTime": amz_date(signed_at + 901),
        },
    )


@pytest.mark.parametrize("offset", [-900.0, 900.0])
def test_request_exactly_the_allowed_skew_away_is_accepted(offset: float) -> None:
    request = _header_signed()
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) + offset)
    assert verifier.verify(request).credentials == CREDS


def test_allowed_skew_is_configurable() -> None:
    request = _header_signed()
    verifier = SigV4Verifier([CREDS], clock=lambda: _clock_for(request) + 61, max_skew_seconds=60)
    with pytest.raises(S3Error) as caught:
        verifier.verify(request)
    assert caught.value.code == "RequestTimeTooSkewed"


def test_request_that_does_not_sign_host_is_refused() -> None:
    request = _suite_request("/", "", [], "x-amz-date", "0" * 64)
    error = _refusal(request, now=0, verifier=_suite_verifier(), body_sha256=EMPTY_SHA256)
    assert _said(error) == ("AccessDenied", "the host header must be signed", 403, {})


def test_unsigned_amz_headers_are_all_named_sorted() -> None:
    request = _header_signed()
    added = SignedRequest(
        request.method,
        request.raw_path,
        request.raw_query,
        (*request.headers, ("x-amz-tagging", "a=b"), ("x-amz-acl", "public-read")),
    )
    error = _refusal(added, now=_clock_for(request))
    assert _said(error) == (
        "AccessDenied",
        "There were headers present in the request which were not signed: x-amz-acl, x-amz-tagging",
        403,
        {},
    )


def test_anonymous_request_says_to_sign_it() -> None:
    request = SignedRequest("GET", "/mrbatch/k", "prefix=a", (("host", "127.0.0.1:9000"),))
    assert _said(_refusal(request, now=0)) == (
        "AccessDenied",
        "Anonymous access is not allowed; sign the request with SigV4",
        403,
        {},
    )


# --- the canonical forms, against values written out --------------------------------------


def test_canonical_query_skips_empty_parts_and_excludes_only_the_named_parameter() -> None:
    raw = "b=2&&a=1&X-Amz-Signature=abc&a=0&c"
    assert canonical_query(raw) == "X-Amz-Signature=abc&a=0&a=1&b=2&c="
    assert canonical_query(raw, exclude="X-Amz-Signature") == "a=0&a=1&b=2&c="


def test_canonical_uri_of_an_empty_path_is_a_slash() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a%2Fb/c d") == "/a/b/c%20d"


def test_canonical_headers_lists_a_signed_header_the_request_lacks_as_empty() -> None:
    headers = [("Host", "h"), ("X-Amz-Date", "d")]
    assert canonical_headers(headers, ["host", "x-amz-date", "x-missing"]) == (
        "host:h\nx-amz-date:d\nx-missing:\n"
    )


def test_signed_request_reads_the_first_value_of_a_header_and_a_parameter() -> None:
    request = SignedRequest("GET", "/", "a=1&a=2&b=%20x", (("h", "1"), ("h", "2")))
    assert (request.header("h"), request.header("absent")) == ("1", None)
    assert request.query() == {"a": "1", "b": " x"}


def test_amz_date_of_a_posix_time() -> None:
    assert amz_date(1369353600.0) == "20130524T000000Z"  # 2013-05-24 00:00:00 UTC


# --- survivors of the first mutation run --------------------------------------------------


@pytest.fixture
def five_hours_behind_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to UTC-5 (a POSIX rule: no tz database needed)."""
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("five_hours_behind_utc")
def test_amz_dates_are_utc_whatever_the_servers_time_zone() -> None:
    assert time.localtime(1369353600.0).tm_hour == 19  # the zone did change
    assert amz_date(1369353600.0) == "20130524T000000Z"
    assert parse_amz_date("20130524T000000Z") == 1369353600.0


def test_slashes_in_query_names_and_values_are_encoded() -> None:
    assert canonical_query("a/b=c/d") == "a%2Fb=c%2Fd"


def test_query_that_is_not_utf8_reads_as_replacement_characters() -> None:
    request = SignedRequest("GET", "/", "%FF=%FE&ok=1", (("host", "h"),))
    assert request.query() == {"\ufffd": "\ufffd", "ok": "1"}
    assert _said(_refusal(request, now=0))[0] == "AccessDenied"  # anonymous, not a crash


def _botocore_presigned(expires: int, headers: dict[str, str]) -> SignedRequest:
    """botocore's query-string signature (an independent signer) of a GET with headers."""
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/mrbatch/k", headers=headers)
    S3SigV4QueryAuth(
        BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key), "s3", "us-east-1",
        expires=expires,
    ).add_auth(request)  # fmt: skip
    url = urlsplit(request.prepare().url)
    sent = [("host", url.netloc)] + [(k.lower(), v) for k, v in headers.items()]
    return SignedRequest("GET", url.path, url.query, tuple(sent))


def test_presigned_request_signing_several_headers_verifies() -> None:
    request = _botocore_presigned(60, {"Range": "bytes=0-9", "X-Amz-Meta-Owner": "me"})
    signed_at = parse_amz_date(request.query()["X-Amz-Date"])
    assert request.query()["X-Amz-SignedHeaders"] == "host;range;x-amz-meta-owner"
    verified = SigV4Verifier([CREDS], clock=lambda: signed_at).verify(request)
    assert (verified.credentials, verified.presigned) == (CREDS, True)


def test_presigned_request_valid_for_one_second_verifies_in_that_second() -> None:
    request = _botocore_presigned(1, {})
    signed_at = parse_amz_date(request.query()["X-Amz-Date"])
    assert SigV4Verifier([CREDS], clock=lambda: signed_at + 1).verify(request).presigned
    with pytest.raises(S3Error, match="Request has expired"):
        SigV4Verifier([CREDS], clock=lambda: signed_at + 2).verify(request)


def test_authorization_field_values_run_from_the_first_equals_sign() -> None:
    request = _header_signed()
    value = (request.header("authorization") or "").replace("Signature=", "Signature=x=", 1)
    error = _refusal(_header_signed(authorization=value), now=_clock_for(request))
    assert error.code == "SignatureDoesNotMatch"
    assert error.details["SignatureProvided"].startswith("x=")
