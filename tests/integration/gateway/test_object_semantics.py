"""Object semantics through boto3: stored standard headers, conditional GET/HEAD/PUT, and
server-side copies (CopyObject, UploadPartCopy)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest

from .conftest import EAST, Gateway

HEADERS = {
    "ContentType": "text/csv; charset=utf-8",
    "CacheControl": "max-age=60",
    "ContentDisposition": 'attachment; filename="a.csv"',
    "ContentEncoding": "identity",
    "ContentLanguage": "fr",
}


def _status(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_standard_headers_are_stored_and_returned(gateway: Gateway) -> None:
    s3 = gateway.client()
    expires = datetime(2044, 12, 1, 16, tzinfo=UTC)
    s3.put_object(Bucket="mrbatch", Key="a.csv", Body=b"x", Expires=expires, **HEADERS)
    got = s3.get_object(Bucket="mrbatch", Key="a.csv")
    head = s3.head_object(Bucket="mrbatch", Key="a.csv")
    for answer in (got, head):
        assert {name: answer[name] for name in HEADERS} == HEADERS
        assert answer["ResponseMetadata"]["HTTPHeaders"]["expires"] == (
            "Thu, 01 Dec 2044 16:00:00 GMT"
        )


def test_object_without_content_type_is_binary_octet_stream(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")
    got = s3.get_object(Bucket="mrbatch", Key="k")
    assert (got["Body"].read(), got["ContentType"]) == (b"x", "binary/octet-stream")


def test_conditional_get_answers_304_and_412(gateway: Gateway) -> None:
    s3 = gateway.client()
    etag = s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")["ETag"]
    later = datetime.now(UTC) + timedelta(hours=1)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    get = s3.get_object
    assert get(Bucket="mrbatch", Key="k", IfMatch=etag)["Body"].read() == b"x"
    assert _status(get, Bucket="mrbatch", Key="k", IfMatch='"nope"') == ("PreconditionFailed", 412)
    assert _status(get, Bucket="mrbatch", Key="k", IfNoneMatch=etag) == ("304", 304)
    assert _status(get, Bucket="mrbatch", Key="k", IfModifiedSince=later) == ("304", 304)
    assert _status(get, Bucket="mrbatch", Key="k", IfUnmodifiedSince=earlier) == (
        "PreconditionFailed",
        412,
    )
    assert get(Bucket="mrbatch", Key="k", IfModifiedSince=earlier)["Body"].read() == b"x"
    assert _status(s3.head_object, Bucket="mrbatch", Key="k", IfNoneMatch="*") == ("304", 304)
    # If-Match that holds wins over If-Unmodified-Since that does not (S3's documented rule).
    both = get(Bucket="mrbatch", Key="k", IfMatch=etag, IfUnmodifiedSince=earlier)
    assert both["Body"].read() == b"x"


def test_put_if_none_match_star_creates_only(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"one", IfNoneMatch="*")
    assert _status(s3.put_object, Bucket="mrbatch", Key="k", Body=b"two", IfNoneMatch="*") == (
        "PreconditionFailed",
        412,
    )
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"one"


def test_put_if_match_replaces_only_that_version(gateway: Gateway) -> None:
    s3 = gateway.client()
    etag = s3.put_object(Bucket="mrbatch", Key="k", Body=b"one")["ETag"]
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"two", IfMatch=etag)
    assert _status(s3.put_object, Bucket="mrbatch", Key="k", Body=b"3", IfMatch=etag) == (
        "PreconditionFailed",
        412,
    )
    assert _status(s3.put_object, Bucket="mrbatch", Key="new", Body=b"3", IfMatch=etag) == (
        "NoSuchKey",
        404,
    )
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"two"


def test_copy_object_keeps_body_metadata_and_headers(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="src", Body=b"data", Metadata={"a": "1"}, **HEADERS)
    answer = s3.copy_object(Bucket="mrbatch", Key="dst", CopySource="mrbatch/src")
    assert answer["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"data").hexdigest()}"'
    got = s3.get_object(Bucket="mrbatch", Key="dst")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (
        b"data",
        {"a": "1"},
        HEADERS["ContentType"],
    )


def test_copy_object_with_replace_takes_the_request_metadata(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="src", Body=b"data", Metadata={"a": "1"})
    s3.copy_object(
        Bucket="mrbatch",
        Key="src",
        CopySource={"Bucket": "mrbatch", "Key": "src"},
        Metadata={"b": "2"},
        MetadataDirective="REPLACE",
        ContentType="text/plain",
    )
    got = s3.head_object(Bucket="mrbatch", Key="src")
    assert (got["Metadata"], got["ContentType"]) == ({"b": "2"}, "text/plain")


def test_copy_onto_itself_unchanged_is_refused(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="src", Body=b"data")
    assert _status(s3.copy_object, Bucket="mrbatch", Key="src", CopySource="mrbatch/src") == (
        "InvalidRequest",
        400,
    )


def test_copy_of_a_missing_source_is_no_such_key(gateway: Gateway) -> None:
    s3 = gateway.client()
    assert _status(s3.copy_object, Bucket="mrbatch", Key="d", CopySource="mrbatch/none") == (
        "NoSuchKey",
        404,
    )


def test_copy_source_if_match_that_fails_is_412(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="src", Body=b"data")
    assert _status(
        s3.copy_object,
        Bucket="mrbatch",
        Key="d",
        CopySource="mrbatch/src",
        CopySourceIfMatch='"nope"',
    ) == ("PreconditionFailed", 412)


def test_boto3_managed_copy_of_a_multipart_sized_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    body = bytes(range(256)) * (6 * 4096 + 7)  # ~6 MB: two parts of 5 MB minimum
    s3.put_object(Bucket="mrbatch", Key="big", Body=body)
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024**2)
    s3.copy({"Bucket": "mrbatch", "Key": "big"}, "mrbatch", "big-copy", Config=config)
    assert gateway.stores[EAST].get_bytes("big-copy") == body
