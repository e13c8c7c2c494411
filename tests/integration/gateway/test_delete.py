"""Deletes through the access point: the object is gone for GET and LIST in every region it
reads, after replication too; DeleteObjects removes many keys at once."""

from __future__ import annotations

import botocore.exceptions
import pytest

from mrbatch.ports import REPLICA

from .conftest import EAST, WEST, Gateway


def _replicate(gateway: Gateway, key: str) -> None:
    """What the replicator does for a PUT: the same version, marked as a replica."""
    info, stream = gateway.stores[EAST].get(key)
    with stream:
        gateway.stores[WEST].put(
            key, stream, replication_status=REPLICA, version_id=info.version_id
        )


def test_delete_after_replication_hides_the_object_everywhere(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="input/a.csv", Body=b"x")
    _replicate(gateway, "input/a.csv")
    s3.delete_object(Bucket="mrbatch", Key="input/a.csv")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket="mrbatch", Key="input/a.csv")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    assert s3.list_objects_v2(Bucket="mrbatch").get("Contents", []) == []


def test_delete_while_failed_over_removes_the_replica_too(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")
    _replicate(gateway, "k")
    gateway.routing.set_active(WEST, "drill")
    s3.delete_object(Bucket="mrbatch", Key="k")
    gateway.routing.set_active(EAST, "back")
    assert s3.list_objects_v2(Bucket="mrbatch").get("Contents", []) == []


def test_delete_objects_removes_each_key_and_reports_it(gateway: Gateway) -> None:
    s3 = gateway.client()
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket="mrbatch", Key=key, Body=b"x")
    _replicate(gateway, "b")
    answer = s3.delete_objects(
        Bucket="mrbatch",
        Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "missing"}]},
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["a", "b", "missing"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="mrbatch")["Contents"]] == ["c"]


def test_delete_objects_quiet_reports_only_errors(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="a", Body=b"x")
    answer = s3.delete_objects(
        Bucket="mrbatch", Delete={"Objects": [{"Key": "a"}, {"Key": "../x"}], "Quiet": True}
    )
    assert "Deleted" not in answer
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("../x", "InvalidArgument")]
