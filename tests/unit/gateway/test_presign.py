"""Presigned GET URLs: identical to boto3's, and accepted by the verifier until they expire."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.presign import presign_get_url
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.sigv4 import SignedRequest, SigV4Verifier, parse_amz_date
from mrbatch.errors import MrBatchError

CREDS = Credentials("MRBKPRESIGNTEST00000", "presign/secret+value=")
ENDPOINT = "http://127.0.0.1:8123"


def _boto3_url(key: str, expires: int) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=CREDS.access_key_id,
        aws_secret_access_key=CREDS.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": "mrbatch", "Key": key}, ExpiresIn=expires
    )
    return url


@pytest.mark.parametrize(
    "key", ["output/completed/a.csv", "dir with space/é+=&?.csv", "~tilde/x!y*z"]
)
def test_url_is_identical_to_boto3s(key: str) -> None:
    expected = _boto3_url(key, 900)
    signed_at = parse_amz_date(parse_qs(urlsplit(expected).query)["X-Amz-Date"][0])
    ours = presign_get_url(ENDPOINT, "mrbatch", key, CREDS, expires_in=900, now=signed_at)
    # same location and the same parameters, signature included; their order in the query
    # is not part of SigV4 (it signs them sorted) and differs between botocore releases
    mine, theirs = urlsplit(ours), urlsplit(expected)
    assert (mine.scheme, mine.netloc, mine.path) == (theirs.scheme, theirs.netloc, theirs.path)
    assert parse_qs(mine.query, strict_parsing=True) == parse_qs(theirs.query)


def _as_request(url: str) -> SignedRequest:
    parts = urlsplit(url)
    return SignedRequest("GET", parts.path, parts.query, (("host", parts.netloc),))


def test_url_verifies_until_it_expires() -> None:
    url = presign_get_url(ENDPOINT, "mrbatch", "k.csv", CREDS, expires_in=60, now=1_000_000.0)
    SigV4Verifier([CREDS], clock=lambda: 1_000_060.0).verify(_as_request(url))
    with pytest.raises(S3Error) as caught:
        SigV4Verifier([CREDS], clock=lambda: 1_000_061.0).verify(_as_request(url))
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "AccessDenied",
        "Request has expired",
        403,
    )


def test_url_for_another_key_does_not_verify() -> None:
    url = presign_get_url(ENDPOINT, "mrbatch", "a.csv", CREDS, now=1_000_000.0)
    tampered = url.replace("/mrbatch/a.csv", "/mrbatch/b.csv")
    with pytest.raises(S3Error) as caught:
        SigV4Verifier([CREDS], clock=lambda: 1_000_001.0).verify(_as_request(tampered))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_expiry_beyond_seven_days_is_refused() -> None:
    with pytest.raises(MrBatchError, match="expires_in"):
        presign_get_url(ENDPOINT, "mrbatch", "a.csv", CREDS, expires_in=7 * 24 * 3600 + 1)


def test_boto3_url_dated_16_minutes_ahead_of_the_server_is_not_valid_yet() -> None:
    # botocore signs the URL (an independent signer); the server's clock is set 16 minutes
    # behind its X-Amz-Date, beyond the 15 minutes of skew S3 allows.
    url = _boto3_url("a.csv", 3600)
    signed_at = parse_amz_date(parse_qs(urlsplit(url).query)["X-Amz-Date"][0])
    verifier = SigV4Verifier([CREDS], clock=lambda: signed_at - 16 * 60)
    with pytest.raises(S3Error) as caught:
        verifier.verify(_as_request(url))
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "AccessDenied",
        "Request is not valid yet",
        403,
    )


def test_boto3_url_dated_14_minutes_ahead_of_the_server_verifies() -> None:
    url = _boto3_url("a.csv", 3600)
    signed_at = parse_amz_date(parse_qs(urlsplit(url).query)["X-Amz-Date"][0])
    verified = SigV4Verifier([CREDS], clock=lambda: signed_at - 14 * 60).verify(_as_request(url))
    assert (verified.credentials, verified.presigned) == (CREDS, True)


def _boto3_url_at(endpoint: str, region: str, key: str, expires: int) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=CREDS.access_key_id,
        aws_secret_access_key=CREDS.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": "mrbatch", "Key": key}, ExpiresIn=expires
    )
    return url


def _parts(url: str) -> tuple[str, str, str, list[str]]:
    """A URL as scheme, host, path and its query's `name=value` parameters as sent (still
    percent-encoded), sorted: botocore's parameter order varies between releases."""
    split = urlsplit(url)
    return split.scheme, split.netloc, split.path, sorted(split.query.split("&"))


@pytest.mark.parametrize(
    ("endpoint", "region", "expires"),
    [
        ("https://gw.example:8443", "us-west-2", 900),  # https, another region's scope
        ("http://127.0.0.1:8123/gw/", "us-east-1", 900),  # the access point under a path
        ("http://127.0.0.1:8123/TAX/", "us-east-1", 900),  # a path ending in a letter
        ("http://127.0.0.1:8123", "us-east-1", 1),  # the shortest expiry S3 allows
        ("http://127.0.0.1:8123", "us-east-1", 7 * 24 * 3600),  # the longest
    ],
)
def test_url_matches_boto3s_for_each_endpoint_region_and_expiry_limit(
    endpoint: str, region: str, expires: int
) -> None:
    expected = _boto3_url_at(endpoint, region, "dir/a b.csv", expires)
    signed_at = parse_amz_date(parse_qs(urlsplit(expected).query)["X-Amz-Date"][0])
    url = presign_get_url(
        endpoint, "mrbatch", "dir/a b.csv", CREDS, expires_in=expires, region=region,
        now=signed_at,
    )  # fmt: skip
    assert _parts(url) == _parts(expected)


@pytest.mark.parametrize("expires", [0, -1, 7 * 24 * 3600 + 1])
def test_expiry_outside_one_second_to_seven_days_is_refused(expires: int) -> None:
    with pytest.raises(MrBatchError) as caught:
        presign_get_url(ENDPOINT, "mrbatch", "a.csv", CREDS, expires_in=expires)
    assert str(caught.value) == "expires_in must be from 1 to 604800 seconds"


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:8123", "127.0.0.1:8123", "http://"])
def test_endpoint_that_is_not_an_http_url_is_refused(endpoint: str) -> None:
    with pytest.raises(MrBatchError) as caught:
        presign_get_url(endpoint, "mrbatch", "a.csv", CREDS)
    assert str(caught.value) == f"endpoint must be an http(s) URL, not {endpoint!r}"


def test_url_without_a_time_is_signed_now_and_verifies_now() -> None:
    before = int(time.time())
    url = presign_get_url(ENDPOINT, "mrbatch", "a.csv", CREDS, expires_in=60)
    after = time.time()
    signed_at = parse_amz_date(parse_qs(urlsplit(url).query)["X-Amz-Date"][0])
    assert before <= signed_at <= after
    verified = SigV4Verifier([CREDS]).verify(_as_request(url))
    assert (verified.credentials, verified.presigned) == (CREDS, True)


def test_url_lasts_an_hour_by_default_as_boto3s() -> None:
    client = boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=CREDS.access_key_id, aws_secret_access_key=CREDS.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )  # fmt: skip
    expected: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": "mrbatch", "Key": "a.csv"}
    )  # no ExpiresIn: botocore's default
    signed_at = parse_amz_date(parse_qs(urlsplit(expected).query)["X-Amz-Date"][0])
    url = presign_get_url(ENDPOINT, "mrbatch", "a.csv", CREDS, now=signed_at)
    assert _parts(url) == _parts(expected)
    assert "X-Amz-Expires=3600" in _parts(url)[3]


def test_bucket_is_one_path_segment_whatever_it_holds() -> None:
    url = presign_get_url(ENDPOINT, "mrbatch/other", "a.csv", CREDS, now=1_000_000.0)
    assert urlsplit(url).path == "/mrbatch%2Fother/a.csv"  # not bucket "mrbatch", key "other/a.csv"
