"""MultipartStaging, the concatenated part reader and the Complete XML parser, without HTTP."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import pytest

from mrbatch.accesspoint.concat import open_concatenated
from mrbatch.accesspoint.multipart import MIN_PART_BYTES, MultipartStaging, multipart_etag
from mrbatch.accesspoint.multipartapi import parse_part_list
from mrbatch.accesspoint.s3errors import S3Error

DAY = 24 * 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _stage(staging: MultipartStaging, upload_id: str, number: int, body: bytes) -> str:
    with staging.part_sink(upload_id) as (sink, temp):
        sink.write(body)
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    staging.commit_part(upload_id, number, temp, etag)
    return etag


def _collect(
    key: str, data: BinaryIO, metadata: Mapping[str, str]
) -> tuple[str, bytes, dict[str, str]]:
    return key, data.read(), dict(metadata)


def test_complete_streams_the_parts_in_order_with_the_metadata(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("input/a.csv", {"owner": "ops"})
    first, last = b"a" * MIN_PART_BYTES, b"tail"
    etags = [
        _stage(staging, upload.upload_id, 1, first),
        _stage(staging, upload.upload_id, 2, last),
    ]
    _, result, etag = staging.complete(
        upload.upload_id, [(1, f'"{etags[0]}"'), (2, etags[1])], _collect
    )
    assert result == ("input/a.csv", first + last, {"owner": "ops"})
    assert etag == multipart_etag(etags)
    assert [p.name for p in tmp_path.iterdir()] == [f"{upload.upload_id}.completed"]


def test_uploading_a_part_number_again_replaces_it(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("k", {})
    _stage(staging, upload.upload_id, 1, b"old")
    new = _stage(staging, upload.upload_id, 1, b"new")
    assert [(p.number, p.etag, p.size) for p in staging.parts(upload.upload_id)] == [(1, new, 3)]


def test_a_failed_put_keeps_the_upload_for_a_retry(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("k", {})
    etag = _stage(staging, upload.upload_id, 1, b"only part")

    def failing(key: str, data: BinaryIO, metadata: Mapping[str, str]) -> None:
        raise S3Error("ServiceUnavailable", "no region", 503)

    with pytest.raises(S3Error):
        staging.complete(upload.upload_id, [(1, etag)], failing)
    assert staging.complete(upload.upload_id, [(1, etag)], _collect)[1][1] == b"only part"


def test_remove_abandoned_keeps_uploads_active_within_a_day(tmp_path: Path) -> None:
    clock = Clock(os.path.getmtime(tmp_path))
    staging = MultipartStaging(tmp_path, clock=clock)
    old = staging.create("old", {})
    fresh = staging.create("fresh", {})
    _stage(staging, fresh.upload_id, 1, b"x")
    old_time = clock.now - 2 * DAY
    for path in [tmp_path / old.upload_id, *(tmp_path / old.upload_id).iterdir()]:
        os.utime(path, (old_time, old_time))
    (tmp_path / "stray-file").write_bytes(b"")
    os.utime(tmp_path / "stray-file", (old_time, old_time))
    assert sorted(staging.remove_abandoned()) == sorted([old.upload_id, "stray-file"])
    assert [p.name for p in tmp_path.iterdir()] == [fresh.upload_id]
    with pytest.raises(S3Error, match="NoSuchUpload"):
        staging.upload(old.upload_id)


def test_a_part_committed_after_abort_is_no_such_upload_and_leaves_nothing(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("k", {})
    with staging.part_sink(upload.upload_id) as (sink, temp):
        sink.write(b"late")
    staging.abort(upload.upload_id)
    with pytest.raises(S3Error, match="NoSuchUpload"):
        staging.commit_part(upload.upload_id, 1, temp, "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_concatenated_file_reads_and_seeks_across_files(tmp_path: Path) -> None:
    pieces = [b"abc", b"", b"defgh", b"i"]
    paths = []
    for index, piece in enumerate(pieces):
        paths.append(tmp_path / f"p{index}")
        paths[-1].write_bytes(piece)
    with open_concatenated(paths, buffer_size=2) as data:
        assert data.read(4) == b"abcd"
        assert data.tell() == 4
        data.seek(2)
        assert data.read() == b"cdefghi"
        assert data.seek(-3, io.SEEK_END) == 6
        assert data.read(10) == b"ghi"
        assert data.read(1) == b""


def test_parse_part_list_accepts_the_s3_namespace() -> None:
    document = (
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b'<Part><ETag>"e1"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32>'
        b"</Part><Part><PartNumber>3</PartNumber><ETag>e3</ETag></Part></CompleteMultipartUpload>"
    )
    assert parse_part_list(document) == [(1, '"e1"'), (3, "e3")]


@pytest.mark.parametrize(
    "document",
    [
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<Other/>",
        b"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"
        b"</CompleteMultipartUpload>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload/>',
    ],
)
def test_parse_part_list_refuses_bad_documents(document: bytes) -> None:
    with pytest.raises(S3Error) as caught:
        parse_part_list(document)
    assert (caught.value.code, caught.value.status) == ("MalformedXML", 400)


def test_a_part_number_listed_twice_is_used_once_with_its_last_etag(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("k", {})
    old = hashlib.md5(b"old", usedforsecurity=False).hexdigest()
    new = _stage(staging, upload.upload_id, 1, b"new")
    _, result, etag = staging.complete(upload.upload_id, [(1, old), (1, new)], _collect)
    assert result[1] == b"new"
    assert etag == multipart_etag([new])


def test_a_descending_part_list_is_still_invalid_part_order(tmp_path: Path) -> None:
    staging = MultipartStaging(tmp_path)
    upload = staging.create("k", {})
    first = _stage(staging, upload.upload_id, 1, b"a" * MIN_PART_BYTES)
    second = _stage(staging, upload.upload_id, 2, b"b")
    with pytest.raises(S3Error) as caught:
        staging.complete(upload.upload_id, [(2, second), (1, first)], _collect)
    assert caught.value.code == "InvalidPartOrder"
