"""MemoryObjectStore: the in-process fake of `ObjectStore`, for tests and the core's examples.

It passes the same contract suite as the local and S3 stores, so code tested against it
behaves the same on a real bucket.

Example:
    >>> store = MemoryObjectStore("demo")
    >>> store.put("input/a.csv", b"x,y\\n").etag
    '043212bb9834e334677e9c9659294bd4'
    >>> store.get_bytes("input/a.csv")
    b'x,y\\n'
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import BinaryIO

from mrbatch.errors import ObjectExistsError, ObjectNotFoundError, PreconditionFailedError
from mrbatch.ports import ListPage, ObjectInfo
from mrbatch.storage.base import BaseObjectStore, check_max_keys
from mrbatch.storage.keys import (
    decode_token,
    encode_token,
    validate_headers,
    validate_key,
    validate_metadata,
    validate_prefix,
)

__all__ = ["MemoryObjectStore"]


class MemoryObjectStore(BaseObjectStore):
    """A bucket held in a dict; thread-safe; nothing survives the process."""

    def __init__(self, bucket: str = "memory") -> None:
        self.bucket = bucket
        self._objects: dict[str, tuple[ObjectInfo, bytes]] = {}
        self._lock = threading.Lock()

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        replication_status: str | None = None,
        version_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.put`."""
        validate_key(key)
        meta = validate_metadata(metadata)
        stored_headers = validate_headers(headers)
        body = data if isinstance(data, bytes) else data.read()
        info = ObjectInfo(
            key=key,
            size=len(body),
            etag=hashlib.md5(body, usedforsecurity=False).hexdigest(),
            version_id=version_id or uuid.uuid4().hex,
            last_modified=time.time(),
            metadata=meta,
            replication_status=replication_status,
            headers=stored_headers,
        )
        with self._lock:
            current = self._objects.get(key)
            if if_none_match and current is not None:
                raise ObjectExistsError(key)
            if if_match is not None:
                if current is None:
                    raise ObjectNotFoundError(key)
                if current[0].etag != if_match:
                    raise PreconditionFailedError(key)
            self._objects[key] = (info, body)
        return info

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """See `mrbatch.ports.ObjectStore.get`."""
        info, body = self._find(key)
        return info, io.BytesIO(body)

    def head(self, key: str) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.head`."""
        return self._find(key)[0]

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """See `mrbatch.ports.ObjectStore.list_page`."""
        validate_prefix(prefix)
        check_max_keys(max_keys)
        after = decode_token(token).encode() if token else b""
        with self._lock:
            infos = [info for info, _ in self._objects.values() if info.key.startswith(prefix)]
        infos.sort(key=lambda info: info.key.encode())
        infos = [info for info in infos if info.key.encode() > after]
        page = infos[:max_keys]
        more = len(infos) > max_keys
        return ListPage(page, encode_token(page[-1].key) if more else None)

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.copy`."""
        validate_key(dest_key)
        source, body = self._find(source_key)
        meta = source.metadata if metadata is None else metadata
        return self.put(dest_key, body, metadata=meta, headers=source.headers)

    def delete(self, key: str) -> None:
        """See `mrbatch.ports.ObjectStore.delete`."""
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def _find(self, key: str) -> tuple[ObjectInfo, bytes]:
        validate_key(key)
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise ObjectNotFoundError(key)
        info, body = found
        return replace(info, metadata=dict(info.metadata), headers=dict(info.headers)), body
