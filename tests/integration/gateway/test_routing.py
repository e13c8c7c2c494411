"""Which region serves what: PUT to the active one (or the other when it is down), GET from
whichever has the object, LIST merged."""

from __future__ import annotations

import io

import botocore.exceptions
import pytest

from mrbatch.accesspoint import AccessPoint, NoRegionAvailableError
from mrbatch.errors import ObjectNotFoundError, StorageError
from mrbatch.ports import ObjectInfo
from mrbatch.storage.memory import MemoryObjectStore

from .conftest import EAST, WEST, Gateway, ListRoutingControl


def test_put_goes_to_the_active_region(gateway: Gateway) -> None:
    s3 = gateway.client()
    first = s3.put_object(Bucket="mrbatch", Key="one.csv", Body=b"1")
    gateway.routing.set_active(WEST, "drill")
    second = s3.put_object(Bucket="mrbatch", Key="two.csv", Body=b"2")
    assert first["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"] == EAST
    assert second["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"] == WEST
    assert [o.key for o in gateway.stores[EAST].list()] == ["one.csv"]
    assert [o.key for o in gateway.stores[WEST].list()] == ["two.csv"]


def test_put_goes_to_the_other_region_when_the_active_one_is_down(gateway: Gateway) -> None:
    gateway.down.add(EAST)
    gateway.client().put_object(Bucket="mrbatch", Key="during-outage.csv", Body=b"x")
    assert [o.key for o in gateway.stores[WEST].list()] == ["during-outage.csv"]
    assert list(gateway.stores[EAST].list()) == []


def test_get_finds_an_object_only_the_standby_has(gateway: Gateway) -> None:
    gateway.stores[WEST].put("input/late.csv", b"late", metadata={"source": "west"})
    got = gateway.client().get_object(Bucket="mrbatch", Key="input/late.csv")
    assert got["Body"].read() == b"late"
    assert got["Metadata"] == {"source": "west"}
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"] == WEST


def test_get_prefers_the_active_regions_copy(gateway: Gateway) -> None:
    gateway.stores[EAST].put("k", b"east")
    gateway.stores[WEST].put("k", b"west")
    s3 = gateway.client()
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"east"
    gateway.routing.set_active(WEST, "drill")
    assert s3.get_object(Bucket="mrbatch", Key="k")["Body"].read() == b"west"


def test_list_merges_both_regions_one_entry_per_key(gateway: Gateway) -> None:
    gateway.stores[EAST].put("a", b"east")
    gateway.stores[EAST].put("c", b"east")
    gateway.stores[WEST].put("b", b"west")
    gateway.stores[WEST].put("c", b"west-longer")
    listing = gateway.client().list_objects_v2(Bucket="mrbatch")
    assert [(o["Key"], o["Size"]) for o in listing["Contents"]] == [("a", 4), ("b", 4), ("c", 4)]


def test_no_region_available_is_503_service_unavailable(gateway: Gateway) -> None:
    gateway.down.update({EAST, WEST})
    s3 = gateway.client(retries={"total_max_attempts": 1})
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.put_object(Bucket="mrbatch", Key="k", Body=b"x")
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


class _FailingPuts(MemoryObjectStore):
    """A store whose writes fail, as a region whose disk or network broke."""

    def put(self, key: str, data: object, **kwargs: object) -> ObjectInfo:  # type: ignore[override]
        raise StorageError("disk unavailable")


def test_put_fails_over_when_the_active_store_errors() -> None:
    broken, healthy = _FailingPuts(), MemoryObjectStore()
    access_point = AccessPoint(
        {EAST: broken, WEST: healthy}, ListRoutingControl((EAST, WEST), EAST)
    )
    data = io.BytesIO(b"payload")
    data.read(3)  # the put starts from the current position, and rewinds there for a retry
    region, info = access_point.put("k", data)
    assert (region, healthy.get_bytes("k"), info.size) == (WEST, b"load", 4)


def test_put_with_every_store_failing_names_each_failure() -> None:
    access_point = AccessPoint(
        {EAST: _FailingPuts(), WEST: _FailingPuts()}, ListRoutingControl((EAST, WEST), EAST)
    )
    with pytest.raises(NoRegionAvailableError, match="us-east-1: disk unavailable; us-west-2"):
        access_point.put("k", io.BytesIO(b"x"))


def test_missing_everywhere_is_not_found() -> None:
    access_point = AccessPoint(
        {EAST: MemoryObjectStore(), WEST: MemoryObjectStore()},
        ListRoutingControl((EAST, WEST), EAST),
    )
    with pytest.raises(ObjectNotFoundError):
        access_point.head("nothing")
