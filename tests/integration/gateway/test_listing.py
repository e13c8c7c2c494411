"""ListObjects (v1) and ListObjectsV2 through boto3, as its resource API and paginators use them."""

from __future__ import annotations

import boto3

from .conftest import EAST, WEST, Gateway


def _resource(gateway: Gateway) -> object:
    client = gateway.client()
    return boto3.resource(
        "s3",
        endpoint_url=gateway.url,
        region_name="us-east-1",
        aws_access_key_id=gateway.credentials.access_key_id,
        aws_secret_access_key=gateway.credentials.secret_access_key,
        config=client.meta.config,
    )


def test_resource_api_lists_all_and_filters_by_prefix_over_v1(gateway: Gateway) -> None:
    s3 = gateway.client()
    keys = [f"input/{i:04d}.csv" for i in range(1, 1101)] + ["other/x"]
    for key in keys[:5] + keys[-1:]:
        s3.put_object(Bucket="mrbatch", Key=key, Body=b"x")
    for key in keys[5:-1]:  # straight into the regions, to save a thousand requests
        gateway.stores[EAST if len(key) % 2 else WEST].put(key, b"x")
    bucket = _resource(gateway).Bucket("mrbatch")  # type: ignore[attr-defined]
    assert [o.key for o in bucket.objects.all()] == keys
    assert [o.key for o in bucket.objects.filter(Prefix="other/")] == ["other/x"]
    assert [o.size for o in bucket.objects.filter(Prefix="input/0001")] == [1]


def test_v1_pages_with_delimiter_by_next_marker(gateway: Gateway) -> None:
    s3 = gateway.client()
    for key in ["a/1", "a/2", "b/1", "c.csv", "d/1", "e"]:
        s3.put_object(Bucket="mrbatch", Key=key, Body=b"")
    first = s3.list_objects(Bucket="mrbatch", Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/", "b/"]
    assert (first["IsTruncated"], first["NextMarker"]) == (True, "b/")
    second = s3.list_objects(Bucket="mrbatch", Delimiter="/", MaxKeys=2, Marker="b/")
    assert [o["Key"] for o in second["Contents"]] == ["c.csv"]
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["d/"]
    third = s3.list_objects(Bucket="mrbatch", Delimiter="/", MaxKeys=2, Marker="d/")
    assert ([o["Key"] for o in third["Contents"]], third["IsTruncated"]) == (["e"], False)
    assert third["Contents"][0]["Owner"]["ID"] == gateway.credentials.access_key_id


def test_v1_without_delimiter_pages_by_the_last_key(gateway: Gateway) -> None:
    s3 = gateway.client()
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket="mrbatch", Key=key, Body=b"")
    page = s3.list_objects(Bucket="mrbatch", MaxKeys=2)
    assert ([o["Key"] for o in page["Contents"]], page["IsTruncated"]) == (["a", "b"], True)
    assert "NextMarker" not in page  # S3 sends it only with a delimiter
    rest = s3.list_objects(Bucket="mrbatch", Marker="b")
    assert [o["Key"] for o in rest["Contents"]] == ["c"]


def test_v2_owner_only_when_fetch_owner_is_asked(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"")
    plain = s3.list_objects_v2(Bucket="mrbatch")["Contents"][0]
    owned = s3.list_objects_v2(Bucket="mrbatch", FetchOwner=True)["Contents"][0]
    assert "Owner" not in plain
    assert owned["Owner"]["ID"] == gateway.credentials.access_key_id


def test_v2_empty_continuation_token_lists_from_the_start(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"")
    page = s3.list_objects_v2(Bucket="mrbatch", ContinuationToken="")
    assert ([o["Key"] for o in page["Contents"]], page["ContinuationToken"]) == (["k"], "")


def test_v2_prefix_no_key_can_have_lists_nothing(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"")
    page = s3.list_objects_v2(Bucket="mrbatch", Prefix="\n")
    assert (page["KeyCount"], page["Prefix"], "Contents" in page) == (0, "\n", False)
