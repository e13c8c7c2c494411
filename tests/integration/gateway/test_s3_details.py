"""S3 details through boto3 and raw HTTP: ListMultipartUploads, GET/HEAD with partNumber,
repeated part numbers in CompleteMultipartUpload, conditional DELETE and DeleteObjects,
conditional PUT with ETags and `*`, non-ASCII user metadata, keys that are not UTF-8,
aws-chunked in Content-Encoding, CreateBucket of the alias, CORS preflights."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from .conftest import Gateway

MB = 1024 * 1024


def _error(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _upload(s3: Any, key: str, parts: list[bytes]) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket="mrbatch", Key=key)["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket="mrbatch", Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        done.append({"PartNumber": number, "ETag": part["ETag"]})
    return upload_id, done


def test_list_multipart_uploads_shows_uploads_in_progress(gateway: Gateway) -> None:
    s3 = gateway.client()
    first = s3.create_multipart_upload(Bucket="mrbatch", Key="b/one")["UploadId"]
    second = s3.create_multipart_upload(Bucket="mrbatch", Key="a/two")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket="mrbatch")
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
        ("a/two", second),
        ("b/one", first),
    ]
    assert [
        u["Key"] for u in s3.list_multipart_uploads(Bucket="mrbatch", Prefix="b/")["Uploads"]
    ] == ["b/one"]
    s3.abort_multipart_upload(Bucket="mrbatch", Key="b/one", UploadId=first)
    remaining = s3.list_multipart_uploads(Bucket="mrbatch")["Uploads"]
    assert [u["UploadId"] for u in remaining] == [second]


def test_get_and_head_with_part_number_serve_that_part(gateway: Gateway) -> None:
    s3 = gateway.client()
    parts = [b"a" * (5 * MB), b"b" * (5 * MB), b"tail"]
    upload_id, done = _upload(s3, "mp", parts)
    etag = s3.complete_multipart_upload(
        Bucket="mrbatch", Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )["ETag"]
    got = s3.get_object(Bucket="mrbatch", Key="mp", PartNumber=2)
    assert got["Body"].read() == parts[1]
    assert (got["PartsCount"], got["ETag"], got["ResponseMetadata"]["HTTPStatusCode"]) == (
        3,
        etag,
        206,
    )
    assert got["ContentRange"] == f"bytes {5 * MB}-{10 * MB - 1}/{10 * MB + 4}"
    head = s3.head_object(Bucket="mrbatch", Key="mp", PartNumber=3)
    assert (head["ContentLength"], head["PartsCount"]) == (4, 3)
    assert s3.head_object(Bucket="mrbatch", Key="mp")["ETag"] == etag
    assert _error(s3.get_object, Bucket="mrbatch", Key="mp", PartNumber=4) == ("InvalidPart", 400)


def test_part_number_one_of_a_single_part_object_is_the_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    etag = s3.put_object(Bucket="mrbatch", Key="k", Body=b"body")["ETag"]
    got = s3.get_object(Bucket="mrbatch", Key="k", PartNumber=1)
    assert (got["Body"].read(), got["ETag"]) == (b"body", etag)
    assert "PartsCount" not in got
    assert _error(s3.get_object, Bucket="mrbatch", Key="k", PartNumber=2) == ("InvalidPart", 400)


def test_complete_with_a_repeated_part_number_uses_the_last_upload_once(gateway: Gateway) -> None:
    s3 = gateway.client()
    upload_id = s3.create_multipart_upload(Bucket="mrbatch", Key="k")["UploadId"]
    old = s3.upload_part(Bucket="mrbatch", Key="k", UploadId=upload_id, PartNumber=1, Body=b"old")
    new = s3.upload_part(Bucket="mrbatch", Key="k", UploadId=upload_id, PartNumber=1, Body=b"new")
    s3.complete_multipart_upload(
        Bucket="mrbatch",
        Key="k",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": old["ETag"]},
                {"PartNumber": 1, "ETag": new["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"new"


def test_delete_if_match_deletes_only_that_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    etag = s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")["ETag"]
    assert _error(s3.delete_object, Bucket="mrbatch", Key="k", IfMatch='"bad"') == (
        "PreconditionFailed",
        412,
    )
    assert s3.head_object(Bucket="mrbatch", Key="k")["ETag"] == etag
    s3.delete_object(Bucket="mrbatch", Key="k", IfMatch=etag)
    assert _error(s3.head_object, Bucket="mrbatch", Key="k")[1] == 404
    response = s3.delete_object(Bucket="mrbatch", Key="k", IfMatch='"bad"')
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204  # gone already


def test_delete_if_match_size_and_last_modified_time(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"abc")
    modified = s3.head_object(Bucket="mrbatch", Key="k")["LastModified"]
    assert _error(s3.delete_object, Bucket="mrbatch", Key="k", IfMatchSize=4)[0] == (
        "PreconditionFailed"
    )
    earlier = modified - timedelta(days=1)
    assert _error(s3.delete_object, Bucket="mrbatch", Key="k", IfMatchLastModifiedTime=earlier)[
        0
    ] == ("PreconditionFailed")
    s3.delete_object(Bucket="mrbatch", Key="k", IfMatchSize=3, IfMatchLastModifiedTime=modified)
    assert _error(s3.head_object, Bucket="mrbatch", Key="k")[1] == 404


def test_delete_objects_checks_each_objects_conditions(gateway: Gateway) -> None:
    s3 = gateway.client()
    etag = s3.put_object(Bucket="mrbatch", Key="a", Body=b"a")["ETag"]
    s3.put_object(Bucket="mrbatch", Key="b", Body=b"bb")
    result = s3.delete_objects(
        Bucket="mrbatch",
        Delete={
            "Objects": [
                {"Key": "a", "ETag": '"bad"'},
                {"Key": "b", "Size": 2, "LastModifiedTime": datetime.now(UTC) - timedelta(days=9)},
            ]
        },
    )
    assert sorted(e["Key"] for e in result["Errors"]) == ["a", "b"]
    assert {e["Code"] for e in result["Errors"]} == {"PreconditionFailed"}
    result = s3.delete_objects(
        Bucket="mrbatch", Delete={"Objects": [{"Key": "a", "ETag": etag}, {"Key": "b", "Size": 2}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b"]
    assert s3.list_objects_v2(Bucket="mrbatch")["KeyCount"] == 0


def test_put_if_match_star_needs_the_object_and_if_none_match_etag_refuses_it(
    gateway: Gateway,
) -> None:
    s3 = gateway.client()
    assert _error(s3.put_object, Bucket="mrbatch", Key="k", Body=b"1", IfMatch="*") == (
        "NoSuchKey",
        404,
    )
    etag = s3.put_object(Bucket="mrbatch", Key="k", Body=b"1")["ETag"]
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"2", IfMatch="*")
    assert _error(
        s3.put_object,
        Bucket="mrbatch",
        Key="k",
        Body=b"3",
        IfNoneMatch=hashlib.md5(b"2").hexdigest(),
    ) == ("PreconditionFailed", 412)
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"4", IfNoneMatch=etag)  # etag is of "1"
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"4"


def test_conditional_complete_compares_the_multipart_etag(gateway: Gateway) -> None:
    s3 = gateway.client()
    upload_id, done = _upload(s3, "k", [b"one"])
    etag = s3.complete_multipart_upload(
        Bucket="mrbatch", Key="k", UploadId=upload_id, MultipartUpload={"Parts": done}
    )["ETag"]
    upload_id, done = _upload(s3, "k", [b"two"])
    complete = {"Bucket": "mrbatch", "Key": "k", "UploadId": upload_id}
    assert _error(
        s3.complete_multipart_upload, **complete, MultipartUpload={"Parts": done}, IfNoneMatch="*"
    ) == ("PreconditionFailed", 412)
    s3.complete_multipart_upload(**complete, MultipartUpload={"Parts": done}, IfMatch=etag)
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"two"


def test_non_ascii_metadata_is_kept_and_returned_rfc2047_encoded(gateway: Gateway) -> None:
    s3 = gateway.client()

    def add_unicode_metadata(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["x-amz-meta-greeting"] = "Hello World\xe9"

    s3.meta.events.register("before-call.s3.PutObject", add_unicode_metadata)
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")
    metadata = s3.head_object(Bucket="mrbatch", Key="k")["Metadata"]
    assert metadata == {"greeting": "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="}


def test_key_that_is_not_utf8_is_400(gateway: Gateway) -> None:
    request = AWSRequest(method="GET", url=f"{gateway.url}/mrbatch/%AE%8A-")
    creds = gateway.credentials
    S3SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3", "us-east-1"
    ).add_auth(request)
    prepared = request.prepare()
    response = httpx.get(prepared.url, headers=dict(prepared.headers))
    assert response.status_code == 400
    assert "<Code>InvalidArgument</Code>" in response.text


def test_aws_chunked_is_not_kept_as_a_content_encoding(gateway: Gateway) -> None:
    s3 = gateway.client()
    for sent, kept in [
        ("gzip, aws-chunked", "gzip"),
        ("aws-chunked", None),
        ("br,gzip", "br,gzip"),
    ]:
        s3.put_object(Bucket="mrbatch", Key="k", Body=b"x", ContentEncoding=sent)
        assert s3.head_object(Bucket="mrbatch", Key="k").get("ContentEncoding") == kept


def test_create_bucket_of_the_alias_succeeds_as_in_us_east_1(gateway: Gateway) -> None:
    s3 = gateway.client()
    response = s3.create_bucket(Bucket="mrbatch")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_preflight_without_origin_is_400_with_origin_403(gateway: Gateway) -> None:
    assert httpx.options(f"{gateway.url}/mrbatch/k").status_code == 400
    headers = {"Origin": "http://example.test", "Access-Control-Request-Method": "GET"}
    assert httpx.options(f"{gateway.url}/mrbatch/k", headers=headers).status_code == 403


def test_list_v1_returns_the_prefix_as_given_under_url_encoding(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="a", Body=b"x")
    assert s3.list_objects(Bucket="mrbatch", Prefix="\n")["Prefix"] == "\n"
