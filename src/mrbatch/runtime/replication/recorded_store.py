"""An ObjectStore that records every put in its region's change feed.

This is how a local bucket gets S3's event notifications and replication queue: whoever
writes into a region's bucket (the access point, the replicator, the handlers) goes through
this wrapper, so no write can bypass the feed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import BinaryIO

from mrbatch.ports import ListPage, ObjectInfo, ObjectStore
from mrbatch.runtime.replication.changefeed import ChangeFeed

__all__ = ["RecordedObjectStore"]


class RecordedObjectStore:
    """Delegates to `inner`; puts and copies are bracketed by feed begin/commit."""

    def __init__(self, inner: ObjectStore, feed: ChangeFeed) -> None:
        self.inner = inner
        self.feed = feed
        self.bucket = inner.bucket

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
        seq = self.feed.begin(key)
        try:
            info = self.inner.put(
                key,
                data,
                metadata=metadata,
                if_none_match=if_none_match,
                replication_status=replication_status,
                version_id=version_id,
                headers=headers,
                if_match=if_match,
            )
        except BaseException:
            self.feed.abandon(seq)
            raise
        self.feed.commit(seq, info)
        return info

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        seq = self.feed.begin(dest_key)
        try:
            info = self.inner.copy(source_key, dest_key, metadata=metadata)
        except BaseException:
            self.feed.abandon(seq)
            raise
        self.feed.commit(seq, info)
        return info

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        return self.inner.get(key)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def head(self, key: str) -> ObjectInfo:
        return self.inner.head(key)

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        return self.inner.list_page(prefix, token=token, max_keys=max_keys)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
