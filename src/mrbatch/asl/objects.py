"""The object store a Distributed Map reads items from and writes results to.

The engine does no I/O of its own: whoever builds an `Engine` passes an `ObjectAccess`
(the region wires its bucket in, see `mrbatch.handlers.integrations.StoreObjects`; tests
use `MemoryObjects`). The three calls are what the Distributed Map's S3 integrations
need: `s3:getObject` (ItemReader), `s3:listObjectsV2` (ItemReader over a prefix) and
`s3:putObject` (ResultWriter). They are blocking; the engine calls them off its loop.

>>> objects = MemoryObjects({"b": {"items.json": b"[1, 2]"}})
>>> objects.get_object("b", "items.json")
b'[1, 2]'
>>> [o["Key"] for o in objects.list_objects("b", "items")]
['items.json']
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, TypedDict

from mrbatch.errors import MrBatchError

__all__ = [
    "DirectoryObjects",
    "ListedObject",
    "MemoryObjects",
    "ObjectAccess",
    "ObjectAccessError",
]


class ObjectAccessError(MrBatchError):
    """A get, list or put failed (no such bucket or key, or the store is unreachable).
    The engine turns it into States.ItemReaderFailed or States.ResultWriterFailed."""


class ListedObject(TypedDict):
    """One object as ListObjectsV2 lists it, and as a Distributed Map item sees it."""

    Etag: str
    Key: str
    LastModified: int
    Size: int
    StorageClass: str


class ObjectAccess(Protocol):
    """Reads and writes of whole objects by bucket and key."""

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes (of `version_id` when given). Raises ObjectAccessError."""
        ...

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ListedObject]:
        """Every object under `prefix`, in key order (all pages). Raises ObjectAccessError."""
        ...

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there (idempotent for the same
        bytes). Raises ObjectAccessError."""
        ...


class MemoryObjects:
    """An in-memory `ObjectAccess`: buckets of key -> bytes (the fake for tests)."""

    def __init__(self, buckets: Mapping[str, Mapping[str, bytes]] | None = None) -> None:
        self.buckets = {name: dict(objects) for name, objects in (buckets or {}).items()}

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        try:
            return self.buckets[bucket][key]
        except KeyError:
            raise ObjectAccessError(f"NoSuchKey: s3://{bucket}/{key}") from None

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ListedObject]:
        if bucket not in self.buckets:
            raise ObjectAccessError(f"NoSuchBucket: {bucket}")
        for key in sorted(k for k in self.buckets[bucket] if k.startswith(prefix)):
            data = self.buckets[bucket][key]
            yield {
                "Etag": f'"{hashlib.md5(data).hexdigest()}"',
                "Key": key,
                "LastModified": int(time.time()),
                "Size": len(data),
                "StorageClass": "STANDARD",
            }

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        self.buckets.setdefault(bucket, {})[key] = data


class DirectoryObjects:
    """A local folder served as the bucket (any bucket name): keys are relative paths. What
    `mrbatch workflow run --bucket-dir DIR` gives the engine."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ObjectAccessError(f"InvalidKey: {key!r} is outside {self.root}")
        return path

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise ObjectAccessError(f"NoSuchKey: s3://{bucket}/{key} ({exc.strerror})") from None

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ListedObject]:
        keys = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )
        for key in (k for k in keys if k.startswith(prefix)):
            data = (self.root / key).read_bytes()
            yield {
                "Etag": f'"{hashlib.md5(data).hexdigest()}"',
                "Key": key,
                "LastModified": int((self.root / key).stat().st_mtime),
                "Size": len(data),
                "StorageClass": "STANDARD",
            }

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(out.name, path)
        except OSError as exc:
            raise ObjectAccessError(f"s3://{bucket}/{key}: {exc.strerror}") from None
