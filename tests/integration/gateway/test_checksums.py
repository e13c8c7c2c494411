"""Flexible checksums through boto3 and the aws CLI: verified on PUT and UploadPart,
stored, returned with `ChecksumMode=ENABLED`, composite on CompleteMultipartUpload, and
GetObjectAttributes."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import botocore.exceptions
import pytest
from awscrt import checksums as crt

from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app, generate_credentials
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.objects import ObjectReplicator
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.storage.local import LocalObjectStore

from .conftest import EAST, WEST, Gateway, ListRoutingControl

MB = 1024 * 1024


def _b64(value: int, width: int) -> str:
    return base64.b64encode(value.to_bytes(width, "big")).decode()


EXPECTED = {
    "CRC32": lambda data: _b64(zlib.crc32(data), 4),
    "CRC32C": lambda data: _b64(crt.crc32c(data), 4),
    "CRC64NVME": lambda data: _b64(crt.crc64nvme(data), 8),
    "SHA1": lambda data: base64.b64encode(hashlib.sha1(data).digest()).decode(),
    "SHA256": lambda data: base64.b64encode(hashlib.sha256(data).digest()).decode(),
}


def _error(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("algorithm", sorted(EXPECTED))
def test_checksum_is_verified_stored_and_returned_when_asked(
    gateway: Gateway, algorithm: str
) -> None:
    s3 = gateway.client()
    data = b"checksummed body\n" * 100
    expected = EXPECTED[algorithm](data)
    put = s3.put_object(Bucket="mrbatch", Key="k", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket="mrbatch", Key="k")
    head = s3.head_object(Bucket="mrbatch", Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket="mrbatch", Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == data


@pytest.mark.parametrize("algorithm", sorted(EXPECTED))
def test_wrong_checksum_is_bad_digest_and_stores_nothing(gateway: Gateway, algorithm: str) -> None:
    s3 = gateway.client()
    wrong = EXPECTED[algorithm](b"something else")
    assert _error(
        s3.put_object, Bucket="mrbatch", Key="k", Body=b"data", **{f"Checksum{algorithm}": wrong}
    ) == ("BadDigest", 400)
    assert _error(s3.head_object, Bucket="mrbatch", Key="k")[1] == 404


def test_two_checksum_algorithms_in_one_request_are_refused(gateway: Gateway) -> None:
    s3 = gateway.client()
    data = b"data"

    def add_second(request: Any, **_: Any) -> None:
        request.headers["x-amz-checksum-sha1"] = EXPECTED["SHA1"](data)

    s3.meta.events.register("before-sign.s3.PutObject", add_second)
    code, status = _error(
        s3.put_object, Bucket="mrbatch", Key="k", Body=data, ChecksumSHA256=EXPECTED["SHA256"](data)
    )
    assert (code, status) == ("InvalidRequest", 400)


def test_default_sdk_checksum_is_kept(gateway: Gateway) -> None:
    s3 = gateway.client()  # botocore >= 1.36 sends CRC32 by default (when_supported)
    data = b"default checksum"
    s3.put_object(Bucket="mrbatch", Key="k", Body=data)
    head = s3.head_object(Bucket="mrbatch", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == EXPECTED["CRC32"](data)


def _multipart(s3: Any, algorithm: str, parts: list[bytes]) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket="mrbatch", Key="mp", ChecksumAlgorithm=algorithm)
    assert upload["ChecksumAlgorithm"] == algorithm
    done = []
    for number, body in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket="mrbatch",
            Key="mp",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm,
        )
        assert part[f"Checksum{algorithm}"] == EXPECTED[algorithm](body)
        done.append(
            {
                "PartNumber": number,
                "ETag": part["ETag"],
                f"Checksum{algorithm}": part[f"Checksum{algorithm}"],
            }
        )
    return upload["UploadId"], done


def _composite(algorithm: str, parts: list[bytes]) -> str:
    raw = b"".join(base64.b64decode(EXPECTED[algorithm](p)) for p in parts)
    return f"{EXPECTED[algorithm](raw)}-{len(parts)}"


def test_multipart_composite_checksum_is_returned_and_stored(gateway: Gateway) -> None:
    s3 = gateway.client()
    parts = [b"a" * (5 * MB), b"b" * 1000]
    upload_id, done = _multipart(s3, "SHA256", parts)
    expected = _composite("SHA256", parts)
    result = s3.complete_multipart_upload(
        Bucket="mrbatch",
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": done},
        ChecksumSHA256=expected,
    )
    assert result["ChecksumSHA256"] == expected
    head = s3.head_object(Bucket="mrbatch", Key="mp", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected
    assert head["ChecksumType"] == "COMPOSITE"


def test_multipart_wrong_object_checksum_is_refused_and_upload_kept(gateway: Gateway) -> None:
    s3 = gateway.client()
    parts = [b"c" * 100]
    upload_id, done = _multipart(s3, "CRC32C", parts)
    complete = {
        "Bucket": "mrbatch",
        "Key": "mp",
        "UploadId": upload_id,
        "MultipartUpload": {"Parts": done},
    }
    assert _error(
        s3.complete_multipart_upload, **complete, ChecksumCRC32C=_composite("CRC32C", [b"x"])
    ) == ("BadDigest", 400)
    wrong_part = [{**done[0], "ChecksumCRC32C": EXPECTED["CRC32C"](b"x")}]
    assert _error(
        s3.complete_multipart_upload,
        **{**complete, "MultipartUpload": {"Parts": wrong_part}},
    ) == ("InvalidPart", 400)
    result = s3.complete_multipart_upload(**complete)
    assert result["ChecksumCRC32C"] == _composite("CRC32C", parts)


def test_multipart_full_object_crc_is_combined_from_the_parts(gateway: Gateway) -> None:
    s3 = gateway.client()
    parts = [b"d" * (5 * MB), b"e" * 777]
    upload = s3.create_multipart_upload(
        Bucket="mrbatch", Key="mp", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )
    done = []
    for number, body in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket="mrbatch",
            Key="mp",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC64NVME",
        )
        done.append({"PartNumber": number, "ETag": part["ETag"]})
    whole = EXPECTED["CRC64NVME"](b"".join(parts))
    result = s3.complete_multipart_upload(
        Bucket="mrbatch",
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": done},
        ChecksumCRC64NVME=whole,
        ChecksumType="FULL_OBJECT",
    )
    assert result["ChecksumCRC64NVME"] == whole
    head = s3.head_object(Bucket="mrbatch", Key="mp", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_upload_file_with_sdk_defaults_keeps_a_checksum(gateway: Gateway, tmp_path: Any) -> None:
    s3 = gateway.client()
    source = tmp_path / "big.bin"
    source.write_bytes(b"f" * (9 * MB))
    s3.upload_file(str(source), "mrbatch", "big.bin")
    head = s3.head_object(Bucket="mrbatch", Key="big.bin", ChecksumMode="ENABLED")
    assert any(name.startswith("Checksum") and name != "ChecksumType" for name in head)
    assert s3.get_object(Bucket="mrbatch", Key="big.bin")["Body"].read() == source.read_bytes()


def test_get_object_attributes_of_a_single_part_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    put = s3.put_object(Bucket="mrbatch", Key="k", Body=b"foo", ChecksumAlgorithm="SHA1")
    attributes = s3.get_object_attributes(
        Bucket="mrbatch",
        Key="k",
        ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"],
    )
    assert attributes["ETag"] == put["ETag"].strip('"')
    assert attributes["ObjectSize"] == 3
    assert attributes["StorageClass"] == "STANDARD"
    assert attributes["Checksum"]["ChecksumSHA1"] == EXPECTED["SHA1"](b"foo")
    assert "ObjectParts" not in attributes
    assert "VersionId" not in attributes


def test_get_object_attributes_pages_the_parts_of_a_multipart_object(gateway: Gateway) -> None:
    s3 = gateway.client()
    parts = [b"g" * (5 * MB), b"h" * (5 * MB), b"i" * 10]
    upload_id, done = _multipart(s3, "SHA256", parts)
    result = s3.complete_multipart_upload(
        Bucket="mrbatch", Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    attributes = s3.get_object_attributes(
        Bucket="mrbatch",
        Key="mp",
        ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"],
        MaxParts=1,
        PartNumberMarker=1,
    )
    assert attributes["ETag"] == result["ETag"].strip('"')
    assert attributes["ObjectSize"] == 10 * MB + 10
    assert attributes["Checksum"]["ChecksumSHA256"] == _composite("SHA256", parts)
    object_parts = attributes["ObjectParts"]
    assert object_parts["TotalPartsCount"] == 3
    assert (object_parts["IsTruncated"], object_parts["NextPartNumberMarker"]) == (True, 2)
    assert object_parts["Parts"] == [
        {"PartNumber": 2, "Size": 5 * MB, "ChecksumSHA256": EXPECTED["SHA256"](parts[1])}
    ]


def test_get_object_attributes_of_a_missing_key_is_no_such_key(gateway: Gateway) -> None:
    s3 = gateway.client()
    assert _error(
        s3.get_object_attributes, Bucket="mrbatch", Key="nope", ObjectAttributes=["ETag"]
    ) == ("NoSuchKey", 404)


def test_replica_keeps_checksum_multipart_etag_and_parts(tmp_path: Any) -> None:
    east = LocalObjectStore(tmp_path / "east" / "bucket", bucket="mrbatch-east")
    west = LocalObjectStore(tmp_path / "west" / "bucket", bucket="mrbatch-west")
    feed = ChangeFeed(tmp_path / "east" / "feed.db")
    routing = ListRoutingControl((EAST, WEST), EAST)
    down: set[str] = set()
    access_point = AccessPoint(
        {EAST: RecordedObjectStore(east, feed), WEST: west},
        routing,
        is_available=lambda region: region not in down,
    )
    credentials = generate_credentials()
    app = build_app(access_point, [credentials], multipart_dir=tmp_path / "multipart")
    parts = [b"r" * (5 * MB), b"s" * 10]
    with GatewayServer(app) as server:
        s3 = Gateway(server, {EAST: east, WEST: west}, routing, credentials).client()
        upload_id, done = _multipart(s3, "SHA1", parts)
        etag = s3.complete_multipart_upload(
            Bucket="mrbatch", Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done}
        )["ETag"]
        replicator = ObjectReplicator(
            source=EAST, destination=WEST, source_store=east, source_feed=feed, dest_store=west
        )
        assert replicator.run_once() == 1
        down.add(EAST)  # every read now comes from the replica
        head = s3.head_object(Bucket="mrbatch", Key="mp", ChecksumMode="ENABLED")
        assert head["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"] == WEST
        assert (head["ETag"], head["ChecksumSHA1"]) == (etag, _composite("SHA1", parts))
        attributes = s3.get_object_attributes(
            Bucket="mrbatch", Key="mp", ObjectAttributes=["ObjectParts"]
        )
        assert [p["Size"] for p in attributes["ObjectParts"]["Parts"]] == [5 * MB, 10]
    feed.close()
