"""The access point through a real boto3 client over HTTP: the S3 operations and their errors."""

from __future__ import annotations

import hashlib
from typing import Any

import botocore.exceptions
import httpx
import pytest

from mrbatch.accesspoint import Credentials

from .conftest import EAST, Gateway


def _error(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_put_get_head_round_trip_with_user_metadata(gateway: Gateway) -> None:
    s3 = gateway.client()
    body = b"uuid,Country\n1,France\n" * 1000
    put = s3.put_object(Bucket="mrbatch", Key="input/a b.csv", Body=body, Metadata={"owner": "ops"})
    md5 = hashlib.md5(body).hexdigest()
    assert put["ETag"] == f'"{md5}"'
    got = s3.get_object(Bucket="mrbatch", Key="input/a b.csv")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"owner": "ops"}
    assert got["ETag"] == f'"{md5}"'
    head = s3.head_object(Bucket="mrbatch", Key="input/a b.csv")
    assert (head["ContentLength"], head["Metadata"]) == (len(body), {"owner": "ops"})
    assert gateway.stores[EAST].get_bytes("input/a b.csv") == body


def test_range_get_returns_the_requested_bytes(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="r.bin", Body=bytes(range(100)))
    got = s3.get_object(Bucket="mrbatch", Key="r.bin", Range="bytes=10-19")
    assert got["Body"].read() == bytes(range(10, 20))
    assert got["ContentRange"] == "bytes 10-19/100"
    assert s3.get_object(Bucket="mrbatch", Key="r.bin", Range="bytes=-5")["Body"].read() == bytes(
        range(95, 100)
    )
    assert _error(s3.get_object, Bucket="mrbatch", Key="r.bin", Range="bytes=100-") == (
        "InvalidRange",
        416,
    )


def test_list_paginates_over_more_than_one_page(gateway: Gateway) -> None:
    s3 = gateway.client()
    keys = [f"input/file-{i:02d}.csv" for i in range(25)]
    for key in keys:
        s3.put_object(Bucket="mrbatch", Key=key, Body=key.encode())
    s3.put_object(Bucket="mrbatch", Key="other/x.csv", Body=b"x")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket="mrbatch", Prefix="input/", PaginationConfig={"PageSize": 10}
        )
    )
    assert [page["KeyCount"] for page in pages] == [10, 10, 5]
    assert [obj["Key"] for page in pages for obj in page["Contents"]] == keys
    after = s3.list_objects_v2(Bucket="mrbatch", Prefix="input/", StartAfter=keys[22])
    assert [obj["Key"] for obj in after["Contents"]] == keys[23:]


def test_list_with_delimiter_groups_common_prefixes_across_pages(gateway: Gateway) -> None:
    s3 = gateway.client()
    for key in ["a/1", "a/2", "a/3", "b/1", "c.csv", "d/1"]:
        s3.put_object(Bucket="mrbatch", Key=key, Body=b"")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket="mrbatch", Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert (prefixes, keys) == (["a/", "b/", "d/"], ["c.csv"])


def test_delete_removes_the_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="gone.csv", Body=b"x")
    assert (
        s3.delete_object(Bucket="mrbatch", Key="gone.csv")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert _error(s3.head_object, Bucket="mrbatch", Key="gone.csv") == ("404", 404)
    assert _error(s3.get_object, Bucket="mrbatch", Key="gone.csv") == ("NoSuchKey", 404)


def test_list_buckets_shows_the_alias_only(gateway: Gateway) -> None:
    s3 = gateway.client()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["mrbatch"]
    assert _error(s3.get_object, Bucket="elsewhere", Key="a") == ("NoSuchBucket", 404)


def test_wrong_secret_is_signature_does_not_match(gateway: Gateway) -> None:
    wrong = Credentials(gateway.credentials.access_key_id, "not-the-secret")
    s3 = gateway.client(wrong)
    assert _error(s3.get_object, Bucket="mrbatch", Key="a") == ("SignatureDoesNotMatch", 403)
    assert _error(s3.put_object, Bucket="mrbatch", Key="a", Body=b"x") == (
        "SignatureDoesNotMatch",
        403,
    )
    assert gateway.stores[EAST].list_page().objects == []


def test_unknown_access_key_is_invalid_access_key_id(gateway: Gateway) -> None:
    s3 = gateway.client(Credentials("MRBKUNKNOWN000000000", "x"))
    assert _error(s3.list_objects_v2, Bucket="mrbatch") == ("InvalidAccessKeyId", 403)


def test_request_without_signature_is_access_denied(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.url}/mrbatch/a.csv")
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("../../etc/passwd", "InvalidArgument"),
        ("input/../../x", "InvalidArgument"),
        ("a\x00b", "InvalidArgument"),
        ("tab\there", "InvalidArgument"),
        ("k" * 1025, "KeyTooLongError"),
    ],
)
def test_hostile_keys_are_refused_with_400(gateway: Gateway, key: str, code: str) -> None:
    s3 = gateway.client()
    assert _error(s3.put_object, Bucket="mrbatch", Key=key, Body=b"x") == (code, 400)
    assert _error(s3.get_object, Bucket="mrbatch", Key=key) == (code, 400)
    assert gateway.stores[EAST].list_page().objects == []


def test_content_md5_mismatch_is_bad_digest(gateway: Gateway) -> None:
    s3 = gateway.client()
    wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="  # MD5 of the empty body
    assert _error(s3.put_object, Bucket="mrbatch", Key="a", Body=b"x", ContentMD5=wrong_md5) == (
        "BadDigest",
        400,
    )


@pytest.mark.parametrize("value", ["not base64!", "AAAA"], ids=["garbage", "three-bytes"])
def test_content_md5_that_is_no_md5_is_invalid_digest(gateway: Gateway, value: str) -> None:
    s3 = gateway.client()
    assert _error(s3.put_object, Bucket="mrbatch", Key="a", Body=b"x", ContentMD5=value) == (
        "InvalidDigest",
        400,
    )


def test_streaming_unsigned_payload_with_trailer_as_botocore_sends_over_https(
    gateway: Gateway,
) -> None:
    """Over HTTPS botocore streams uploads as aws-chunked with a CRC32 trailer; force that
    mode over HTTP to check the gateway decodes it."""
    s3 = gateway.client()

    def use_trailer(params: dict[str, Any], **kwargs: Any) -> None:
        params["context"]["checksum"]["request_algorithm"]["in"] = "trailer"

    sent: list[dict[str, Any]] = []
    s3.meta.events.register("before-call.s3.PutObject", use_trailer)
    s3.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    body = bytes(range(256)) * 4096
    s3.put_object(Bucket="mrbatch", Key="streamed.bin", Body=body, ChecksumAlgorithm="CRC32")
    headers = {name.lower(): value for name, value in sent[0].items()}  # case varies by release
    assert headers["x-amz-content-sha256"] == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent[0]["Content-Encoding"] == b"aws-chunked"
    assert gateway.stores[EAST].get_bytes("streamed.bin") == body
