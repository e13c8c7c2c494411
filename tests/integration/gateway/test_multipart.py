"""Multipart uploads through the real gateway: boto3's transfer manager, the real aws CLI,
the low-level calls, and S3's errors for bad part lists."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app, generate_credentials
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.storage.local import LocalObjectStore

from .conftest import EAST, WEST, Gateway, ListRoutingControl

MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~20 MB of random bytes, written once for the module."""
    path = tmp_path_factory.mktemp("data") / "big.bin"
    path.write_bytes(os.urandom(20 * MIB + 12345))
    return path


@pytest.fixture(scope="module")
def big_data(big_file: Path) -> bytes:
    return big_file.read_bytes()


def _staged(tmp_path: Path) -> list[str]:
    """Uploads still staged (a completed upload leaves only its `.completed` record)."""
    return sorted(
        entry.name
        for entry in (tmp_path / "multipart").iterdir()
        if not entry.name.endswith(".completed")
    )


def _error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response: Any = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _upload_parts(s3: Any, key: str, parts: list[bytes]) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket="mrbatch", Key=key)["UploadId"]
    listed = []
    for number, body in enumerate(parts, start=1):
        reply = s3.upload_part(
            Bucket="mrbatch", Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        listed.append({"PartNumber": number, "ETag": reply["ETag"]})
    return upload_id, listed


def _complete(s3: Any, key: str, upload_id: str, parts: list[dict[str, Any]]) -> Any:
    return s3.complete_multipart_upload(
        Bucket="mrbatch", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def test_upload_file_in_5_mb_parts_round_trips(
    gateway: Gateway, big_file: Path, big_data: bytes, tmp_path: Path
) -> None:
    s3 = gateway.client()
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    s3.upload_file(
        str(big_file), "mrbatch", "input/big.bin", Config=config,
        ExtraArgs={"Metadata": {"owner": "ops"}},
    )  # fmt: skip
    head = s3.head_object(Bucket="mrbatch", Key="input/big.bin")
    # S3's ETag of a multipart object: the MD5 of the parts' MD5s, then the part count.
    pieces = [big_data[start : start + PART] for start in range(0, len(big_data), PART)]
    part_md5s = b"".join(hashlib.md5(piece, usedforsecurity=False).digest() for piece in pieces)
    assert head["ETag"] == f'"{_md5(part_md5s)}-{len(pieces)}"'
    assert head["Metadata"] == {"owner": "ops"}
    assert s3.get_object(Bucket="mrbatch", Key="input/big.bin")["Body"].read() == big_data
    assert gateway.stores[EAST].get_bytes("input/big.bin") == big_data
    assert list(gateway.stores[WEST].list()) == []
    assert _staged(tmp_path) == []


def test_aws_cli_cp_of_a_20_mb_file_up_and_down(
    gateway: Gateway, big_file: Path, big_data: bytes, tmp_path: Path
) -> None:
    aws = shutil.which("aws")
    assert aws is not None, "the aws CLI must be installed for this test"
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": gateway.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": gateway.credentials.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    target = tmp_path / "back.bin"
    logs = []
    for source, destination in (
        (str(big_file), "s3://mrbatch/input/cli.bin"),
        ("s3://mrbatch/input/cli.bin", str(target)),
    ):
        done = subprocess.run(
            [aws, "--debug", "--endpoint-url", gateway.url, "s3", "cp", source, destination],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        logs.append(done.stderr)
    # The CLI's default threshold (8 MB) made it upload in parts: 8 + 8 + 4 MB.
    assert logs[0].count("OperationModel(name=UploadPart)") == 3
    assert "OperationModel(name=CompleteMultipartUpload)" in logs[0]
    assert gateway.stores[EAST].get_bytes("input/cli.bin") == big_data
    assert target.read_bytes() == big_data
    assert _staged(tmp_path) == []


def test_complete_answers_the_multipart_etag_and_list_parts_shows_the_parts(
    gateway: Gateway, big_data: bytes
) -> None:
    s3 = gateway.client()
    first, second = big_data[:PART], big_data[PART : PART + 100]
    upload_id, parts = _upload_parts(s3, "two.bin", [first, second])
    listed = s3.list_parts(Bucket="mrbatch", Key="two.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (1, f'"{_md5(first)}"', PART),
        (2, f'"{_md5(second)}"', 100),
    ]
    done = _complete(s3, "two.bin", upload_id, parts)
    binary_md5s = (
        hashlib.md5(first, usedforsecurity=False).digest()
        + hashlib.md5(second, usedforsecurity=False).digest()
    )
    assert done["ETag"] == f'"{_md5(binary_md5s)}-2"'
    assert done["Key"] == "two.bin"
    assert gateway.stores[EAST].head("two.bin").etag == _md5(first + second)


def test_complete_with_a_wrong_etag_is_invalid_part(gateway: Gateway, big_data: bytes) -> None:
    s3 = gateway.client()
    upload_id, parts = _upload_parts(s3, "a.bin", [big_data[:PART], b"tail"])
    parts[1]["ETag"] = f'"{_md5(b"something else")}"'
    assert _error(
        s3.complete_multipart_upload, Bucket="mrbatch", Key="a.bin", UploadId=upload_id,
        MultipartUpload={"Parts": parts},
    ) == ("InvalidPart", 400)  # fmt: skip
    assert list(gateway.stores[EAST].list()) == []


def test_parts_listed_out_of_order_are_invalid_part_order(
    gateway: Gateway, big_data: bytes
) -> None:
    s3 = gateway.client()
    upload_id, parts = _upload_parts(s3, "a.bin", [big_data[:PART], b"tail"])
    assert _error(
        s3.complete_multipart_upload, Bucket="mrbatch", Key="a.bin", UploadId=upload_id,
        MultipartUpload={"Parts": [parts[1], parts[0]]},
    ) == ("InvalidPartOrder", 400)  # fmt: skip


def test_a_too_small_middle_part_is_entity_too_small(gateway: Gateway, big_data: bytes) -> None:
    s3 = gateway.client()
    chunks = [big_data[:PART], big_data[PART : 2 * PART - 1], b"tail"]
    upload_id, parts = _upload_parts(s3, "a.bin", chunks)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        _complete(s3, "a.bin", upload_id, parts)
    error: Any = caught.value.response["Error"]
    assert (error["Code"], error["PartNumber"], error["ProposedSize"]) == (
        "EntityTooSmall",
        "2",
        str(PART - 1),
    )
    # The upload stays: completing without the small part works.
    _complete(s3, "a.bin", upload_id, [parts[0], parts[2]])
    assert gateway.stores[EAST].get_bytes("a.bin") == big_data[:PART] + b"tail"


def test_abort_removes_the_upload_and_its_staged_parts(
    gateway: Gateway, big_data: bytes, tmp_path: Path
) -> None:
    s3 = gateway.client()
    upload_id, parts = _upload_parts(s3, "a.bin", [big_data[:PART], b"tail"])
    assert _staged(tmp_path) == [upload_id]
    s3.abort_multipart_upload(Bucket="mrbatch", Key="a.bin", UploadId=upload_id)
    assert _staged(tmp_path) == []
    assert _error(
        s3.upload_part, Bucket="mrbatch", Key="a.bin", UploadId=upload_id, PartNumber=3, Body=b"x"
    ) == ("NoSuchUpload", 404)
    assert _error(
        s3.complete_multipart_upload, Bucket="mrbatch", Key="a.bin", UploadId=upload_id,
        MultipartUpload={"Parts": parts},
    ) == ("NoSuchUpload", 404)  # fmt: skip
    assert _error(s3.abort_multipart_upload, Bucket="mrbatch", Key="a.bin", UploadId=upload_id) == (
        "NoSuchUpload",
        404,
    )
    assert _staged(tmp_path) == []


def test_an_upload_id_for_another_key_or_malformed_is_no_such_upload(gateway: Gateway) -> None:
    s3 = gateway.client()
    upload_id = s3.create_multipart_upload(Bucket="mrbatch", Key="a.bin")["UploadId"]
    for key, bad_id in (("b.bin", upload_id), ("a.bin", "../../etc"), ("a.bin", "0" * 32)):
        assert _error(s3.list_parts, Bucket="mrbatch", Key=key, UploadId=bad_id) == (
            "NoSuchUpload",
            404,
        )


def test_the_object_lands_in_the_region_active_at_completion(
    gateway: Gateway, big_data: bytes
) -> None:
    s3 = gateway.client()
    upload_id, parts = _upload_parts(s3, "input/late.bin", [big_data[:PART], b"tail"])
    gateway.routing.set_active(WEST, "drill")
    done = _complete(s3, "input/late.bin", upload_id, parts)
    assert done["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"] == WEST
    assert gateway.stores[WEST].get_bytes("input/late.bin") == big_data[:PART] + b"tail"
    assert list(gateway.stores[EAST].list()) == []


def test_upload_part_streamed_with_a_crc32_trailer_echoes_the_checksum(
    gateway: Gateway, big_data: bytes
) -> None:
    s3 = gateway.client()

    def use_trailer(params: dict[str, Any], **kwargs: Any) -> None:
        params["context"]["checksum"]["request_algorithm"]["in"] = "trailer"

    sent: list[dict[str, Any]] = []
    s3.meta.events.register("before-call.s3.UploadPart", use_trailer)
    s3.meta.events.register(
        "before-send.s3.UploadPart", lambda request, **_: sent.append(dict(request.headers))
    )
    body = big_data[:PART]
    upload_id = s3.create_multipart_upload(
        Bucket="mrbatch", Key="c.bin", ChecksumAlgorithm="CRC32"
    )["UploadId"]
    reply = s3.upload_part(
        Bucket="mrbatch", Key="c.bin", UploadId=upload_id, PartNumber=1, Body=body,
        ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    headers = {name.lower(): value for name, value in sent[0].items()}  # case varies by release
    assert headers["x-amz-content-sha256"] == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert reply["ETag"] == f'"{_md5(body)}"'
    assert reply["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def test_completion_raises_exactly_one_object_created_event(
    tmp_path: Path, big_data: bytes
) -> None:
    inner = LocalObjectStore(tmp_path / "east" / "bucket", bucket="mrbatch-east")
    feed = ChangeFeed(tmp_path / "east" / "feed.db")
    routing = ListRoutingControl((EAST,), EAST)
    access_point = AccessPoint({EAST: RecordedObjectStore(inner, feed)}, routing)
    credentials = generate_credentials()
    app = build_app(access_point, [credentials], multipart_dir=tmp_path / "multipart")
    with GatewayServer(app) as server:
        s3 = Gateway(server, {EAST: inner}, routing, credentials).client()
        upload_id, parts = _upload_parts(s3, "input/one.bin", [big_data[:PART], b"tail"])
        assert feed.read("test") == []
        _complete(s3, "input/one.bin", upload_id, parts)
    changes = feed.read("test")
    feed.close()
    assert [(c.key, c.size, c.etag) for c in changes] == [
        ("input/one.bin", PART + 4, _md5(big_data[:PART] + b"tail"))
    ]


def test_list_parts_pages_with_max_parts(gateway: Gateway) -> None:
    s3 = gateway.client()
    upload_id, _ = _upload_parts(s3, "p.bin", [b"one", b"two", b"three"])
    first = s3.list_parts(Bucket="mrbatch", Key="p.bin", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert (first["IsTruncated"], first["NextPartNumberMarker"]) == (True, 2)
    rest = s3.list_parts(
        Bucket="mrbatch", Key="p.bin", UploadId=upload_id, PartNumberMarker=2, MaxParts=2
    )
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 5)]
    assert rest["IsTruncated"] is False


def test_bad_metadata_is_refused_when_the_upload_starts(gateway: Gateway, tmp_path: Path) -> None:
    s3 = gateway.client()
    assert _error(
        s3.create_multipart_upload, Bucket="mrbatch", Key="m.bin", Metadata={"big": "x" * 3000}
    ) == ("InvalidArgument", 400)
    assert _staged(tmp_path) == []


def test_a_repeated_complete_answers_the_same_result(gateway: Gateway) -> None:
    s3 = gateway.client()
    upload_id, parts = _upload_parts(s3, "again.csv", [b"only part"])
    first = _complete(s3, "again.csv", upload_id, parts)
    second = _complete(s3, "again.csv", upload_id, parts)  # an SDK retry after a lost answer
    assert (second["ETag"], second["VersionId"]) == (first["ETag"], first["VersionId"])
    assert gateway.stores[EAST].get_bytes("again.csv") == b"only part"
    other = [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    assert _error(_complete, s3=s3, key="again.csv", upload_id=upload_id, parts=other) == (
        "NoSuchUpload",
        404,
    )
