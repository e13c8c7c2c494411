"""The ObjectStore contract: every backend (memory, local, S3 via moto) must pass all of it."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mrbatch.errors import (
    InvalidKeyError,
    InvalidMetadataError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from mrbatch.ports import MULTIPART_HEADER, REPLICA, ObjectStore
from mrbatch.storage.local import LocalObjectStore
from mrbatch.storage.memory import MemoryObjectStore

HOSTILE_KEYS = [
    "",
    "../x",
    "a/../../b",
    "/abs",
    "a/./b",
    "..",
    ".",
    "a/..",
    "a\x00b",
    "a\nb",
    "a\\b",
    "..\\x",
    "x" * 1025,
    "é" * 512 + "a",  # 1025 bytes of UTF-8 in 513 characters
    "\ud800",  # a lone surrogate cannot be UTF-8
]

ODD_BUT_VALID_KEYS = [
    "x" * 1024,
    "é" * 512,
    "input/ünïcödé 🚀.csv",
    "a//b",
    "dir/",
    "..a",
    "a..",
    "a/.b",
    "spaces in key",
    "percent%2F and + plus",
]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_put_returns_md5_etag_size_and_version(object_store: ObjectStore) -> None:
    info = object_store.put("input/a.csv", b"h\n1\n", metadata={"source": "test"})
    assert (info.key, info.size, info.etag) == ("input/a.csv", 4, md5(b"h\n1\n"))
    assert info.version_id
    assert info.replication_status is None
    assert dict(info.metadata) == {"source": "test"}


def test_head_matches_put(object_store: ObjectStore) -> None:
    put = object_store.put("k", b"abc", metadata={"a": "1", "b-c": "two words"})
    head = object_store.head("k")
    assert (head.key, head.size, head.etag, head.version_id) == (
        "k",
        3,
        md5(b"abc"),
        put.version_id,
    )
    assert dict(head.metadata) == {"a": "1", "b-c": "two words"}


def test_get_streams_the_body_and_info(object_store: ObjectStore) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value
    object_store.put("big.bin", io.BytesIO(body))
    info, stream = object_store.get("big.bin")
    with stream:
        chunks = [stream.read(65536) for _ in range(16)]
        assert stream.read() == b""
    assert b"".join(chunks) == body
    assert (info.size, info.etag) == (len(body), md5(body))


def test_got_stream_iterates_by_lines_when_the_object_is_long(object_store: ObjectStore) -> None:
    """The stream is a BinaryIO: iterating it yields lines (a manifest of JSON Lines is
    read so), whatever the transport's own chunking (botocore's is 1 KiB)."""
    lines = [b'{"n": %d, "pad": "%s"}\n' % (n, b"x" * 90) for n in range(40)]
    object_store.put("manifest.jsonl", b"".join(lines))
    _info, body = object_store.get("manifest.jsonl")
    with body:
        assert list(body) == lines


def test_get_bytes_returns_whole_object(object_store: ObjectStore) -> None:
    object_store.put("k", b"payload")
    assert object_store.get_bytes("k") == b"payload"


def test_empty_object_is_an_object(object_store: ObjectStore) -> None:
    info = object_store.put("empty", b"")
    assert (info.size, info.etag) == (0, md5(b""))
    assert object_store.get_bytes("empty") == b""


def test_overwrite_replaces_body_and_changes_version(object_store: ObjectStore) -> None:
    first = object_store.put("k", b"one", metadata={"n": "1"})
    second = object_store.put("k", b"two")
    assert second.version_id != first.version_id
    assert object_store.get_bytes("k") == b"two"
    head = object_store.head("k")
    assert (head.etag, head.version_id, dict(head.metadata)) == (md5(b"two"), second.version_id, {})


@pytest.mark.parametrize("operation", ["get", "get_bytes", "head"])
def test_missing_key_raises_not_found(object_store: ObjectStore, operation: str) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        getattr(object_store, operation)("nope/missing.csv")
    assert caught.value.key == "nope/missing.csv"


def test_if_none_match_creates_once(object_store: ObjectStore) -> None:
    object_store.put("k", b"first", if_none_match=True)
    with pytest.raises(ObjectExistsError):
        object_store.put("k", b"second", if_none_match=True)
    assert object_store.get_bytes("k") == b"first"


def test_if_none_match_allowed_again_after_delete(object_store: ObjectStore) -> None:
    object_store.put("k", b"first", if_none_match=True)
    object_store.delete("k")
    object_store.put("k", b"again", if_none_match=True)
    assert object_store.get_bytes("k") == b"again"


@pytest.fixture(params=["memory", "local"])
def atomic_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """A bucket of a backend whose create-only atomicity can be exercised here. S3's
    If-None-Match is atomic; moto checks and writes without a lock, so a race against it
    would test moto and fail at random (S3's semantics are covered single-threaded)."""
    if request.param == "memory":
        yield MemoryObjectStore("race")
        return
    store = LocalObjectStore(tmp_path / "race", bucket="race")
    yield store
    store.close()


def test_if_none_match_race_from_threads_has_one_winner(atomic_store: ObjectStore) -> None:
    object_store = atomic_store
    winners: list[int] = []
    losers: list[int] = []
    barrier = threading.Barrier(8)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            object_store.put("race", f"writer {n}".encode(), if_none_match=True)
            winners.append(n)
        except ObjectExistsError:
            losers.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7
    assert object_store.get_bytes("race") == f"writer {winners[0]}".encode()


def test_delete_is_idempotent(object_store: ObjectStore) -> None:
    object_store.put("k", b"x")
    object_store.delete("k")
    object_store.delete("k")
    object_store.delete("never-existed")
    with pytest.raises(ObjectNotFoundError):
        object_store.head("k")
    assert list(object_store.list()) == []


def test_list_is_in_utf8_byte_order(object_store: ObjectStore) -> None:
    keys = ["b", "a/b", "a", "ab", "é", "z", "\U0001f600", "A", "a-", "a0", "\uffff", "ÿ"]
    for key in keys:
        object_store.put(key, key.encode())
    listed = [info.key for info in object_store.list()]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_list_filters_by_prefix(object_store: ObjectStore) -> None:
    for key in ["input/a.csv", "input/b.csv", "input2/c.csv", "inp", "output/a.csv", "ÿ/1", "ÿ1"]:
        object_store.put(key, b"x")
    assert [i.key for i in object_store.list("input/")] == ["input/a.csv", "input/b.csv"]
    assert [i.key for i in object_store.list("inp")] == [
        "inp",
        "input/a.csv",
        "input/b.csv",
        "input2/c.csv",
    ]
    assert [i.key for i in object_store.list("ÿ")] == ["ÿ/1", "ÿ1"]
    assert [i.key for i in object_store.list("nothing")] == []


def test_list_reports_size_and_etag(object_store: ObjectStore) -> None:
    object_store.put("p/one", b"1")
    object_store.put("p/three", b"333")
    listed = [(i.key, i.size, i.etag) for i in object_store.list("p/")]
    assert listed == [("p/one", 1, md5(b"1")), ("p/three", 3, md5(b"333"))]


def test_list_paginates_over_several_pages(object_store: ObjectStore) -> None:
    keys = sorted(f"chunks/{n:03d}" for n in range(25))
    for key in keys:
        object_store.put(key, b"x")
    pages, token = [], None
    while True:
        page = object_store.list_page("chunks/", token=token, max_keys=7)
        pages.append([info.key for info in page.objects])
        token = page.next_token
        if token is None:
            break
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    assert [key for page in pages for key in page] == keys
    assert [info.key for info in object_store.list("chunks/")] == keys


def test_list_page_exactly_full_has_no_next_token(object_store: ObjectStore) -> None:
    for n in range(3):
        object_store.put(f"k{n}", b"x")
    page = object_store.list_page(max_keys=3)
    assert [i.key for i in page.objects] == ["k0", "k1", "k2"]
    assert page.next_token is None


def test_list_page_rejects_bad_page_size(object_store: ObjectStore) -> None:
    with pytest.raises(StorageError):
        object_store.list_page(max_keys=0)


def test_copy_copies_body_and_metadata(object_store: ObjectStore) -> None:
    object_store.put("src", b"body", metadata={"owner": "me"})
    copied = object_store.copy("src", "dst")
    assert (copied.key, copied.etag, dict(copied.metadata)) == (
        "dst",
        md5(b"body"),
        {"owner": "me"},
    )
    assert object_store.get_bytes("dst") == b"body"
    assert object_store.get_bytes("src") == b"body"


def test_copy_with_metadata_replaces_it(object_store: ObjectStore) -> None:
    object_store.put("src", b"body", metadata={"owner": "me"})
    copied = object_store.copy("src", "dst", metadata={"stage": "archived"})
    assert dict(object_store.head("dst").metadata) == {"stage": "archived"}
    assert copied.etag == md5(b"body")


def test_copy_of_missing_source_raises_not_found(object_store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        object_store.copy("missing", "dst")


def test_replica_keeps_status_and_source_version(object_store: ObjectStore) -> None:
    info = object_store.put(
        "input/a.csv", b"data", replication_status=REPLICA, version_id="source-v1"
    )
    assert (info.replication_status, info.version_id) == (REPLICA, "source-v1")
    head = object_store.head("input/a.csv")
    assert (head.replication_status, head.version_id, dict(head.metadata)) == (
        REPLICA,
        "source-v1",
        {},
    )


def test_copy_of_a_replica_is_not_a_replica(object_store: ObjectStore) -> None:
    object_store.put("r", b"data", replication_status=REPLICA, version_id="v9")
    copied = object_store.copy("r", "c")
    assert copied.replication_status is None
    assert copied.version_id != "v9"


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_hostile_keys_are_refused_everywhere(object_store: ObjectStore, key: str) -> None:
    object_store.put("good", b"x")
    calls: list[Callable[[], object]] = [
        lambda: object_store.put(key, b"x"),
        lambda: object_store.get(key),
        lambda: object_store.head(key),
        lambda: object_store.delete(key),
        lambda: object_store.copy("good", key),
        lambda: object_store.copy(key, "other"),
    ]
    for call in calls:
        with pytest.raises(InvalidKeyError):
            call()
    assert [info.key for info in object_store.list()] == ["good"]


def test_non_string_key_is_refused(object_store: ObjectStore) -> None:
    with pytest.raises(InvalidKeyError):
        object_store.put(b"bytes-key", b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ODD_BUT_VALID_KEYS, ids=repr)
def test_odd_but_valid_keys_round_trip(object_store: ObjectStore, key: str) -> None:
    object_store.put(key, key.encode())
    assert object_store.get_bytes(key) == key.encode()
    assert [info.key for info in object_store.list()] == [key]


@pytest.mark.parametrize(
    "metadata",
    [
        {"Upper": "x"},
        {"ok": "naïve"},
        {"ok": "line\nbreak"},
        {"mrbatch-x": "1"},
        {"": "x"},
        {"big": "x" * 2100},
    ],
    ids=repr,
)
def test_bad_metadata_is_refused(object_store: ObjectStore, metadata: dict[str, str]) -> None:
    with pytest.raises(InvalidMetadataError):
        object_store.put("k", b"x", metadata=metadata)
    with pytest.raises(ObjectNotFoundError):
        object_store.head("k")


def test_forged_token_is_refused(object_store: ObjectStore) -> None:
    with pytest.raises(StorageError):
        object_store.list_page(token="%%%not-a-token%%%")


def test_buckets_are_independent(object_store_factory: Callable[[str], ObjectStore]) -> None:
    east, west = object_store_factory("bucket-east"), object_store_factory("bucket-west")
    east.put("k", b"east")
    assert (east.bucket, west.bucket) == ("bucket-east", "bucket-west")
    with pytest.raises(ObjectNotFoundError):
        west.head("k")


def test_stored_headers_round_trip_through_head_get_and_copy(object_store: ObjectStore) -> None:
    headers = {
        "content-type": "text/csv; charset=utf-8",
        "cache-control": "max-age=60",
        "content-disposition": 'attachment; filename="a.csv"',
        "content-encoding": "identity",
        "content-language": "en",
        "expires": "Thu, 01 Dec 2044 16:00:00 GMT",
        "x-amz-checksum-crc32": "AAAAAA==",
    }
    put = object_store.put("k", b"x", metadata={"a": "1"}, headers=headers)
    assert dict(put.headers) == headers
    assert dict(object_store.head("k").headers) == headers
    info, stream = object_store.get("k")
    stream.close()
    assert (dict(info.headers), dict(info.metadata)) == (headers, {"a": "1"})
    assert dict(object_store.copy("k", "k2").headers) == headers


def test_multipart_layout_header_round_trips_with_a_composite_checksum(
    object_store: ObjectStore,
) -> None:
    checksums = [f"{'A' * 43}=" for _ in range(16)]  # 16 SHA-256 part checksums, base64
    layout = (
        '{"etag":"'
        + "f" * 32
        + '-16","sizes":[[5242880,15],[1]],"checksums":'
        + ("[" + ",".join(f'"{c}"' for c in checksums) + "]}")
    )
    headers = {
        "content-type": "text/csv",
        "x-amz-checksum-sha256": f"{'B' * 43}=-16",
        "x-amz-checksum-type": "COMPOSITE",
        MULTIPART_HEADER: layout,
    }
    object_store.put("k", b"x", headers=headers)
    assert dict(object_store.head("k").headers) == headers


def test_object_put_without_headers_has_none(object_store: ObjectStore) -> None:
    object_store.put("k", b"x")
    assert dict(object_store.head("k").headers) == {}


@pytest.mark.parametrize(
    "headers",
    [{"x-amz-meta-a": "1"}, {"Content-Type": "x"}, {"content-type": "a\nb"}, {"etag": "x"}],
    ids=repr,
)
def test_unknown_or_bad_headers_are_refused(
    object_store: ObjectStore, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidMetadataError):
        object_store.put("k", b"x", headers=headers)
    with pytest.raises(ObjectNotFoundError):
        object_store.head("k")


def test_if_match_replaces_only_the_expected_version(object_store: ObjectStore) -> None:
    first = object_store.put("k", b"one")
    second = object_store.put("k", b"two", if_match=first.etag)
    with pytest.raises(PreconditionFailedError):
        object_store.put("k", b"three", if_match=first.etag)
    assert object_store.get_bytes("k") == b"two"
    assert object_store.head("k").etag == second.etag


def test_if_match_on_a_missing_key_is_not_found(object_store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        object_store.put("k", b"x", if_match=md5(b"x"))
    with pytest.raises(ObjectNotFoundError):
        object_store.head("k")
