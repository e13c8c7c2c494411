"""What every ObjectStore shares: listing by pages and whole-object reads.

A backend implements `list_page` and `get`; `list` and `get_bytes` are written once here so
pagination is never skipped ("read only the first page" is a classic bug).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

from mrbatch.errors import StorageError
from mrbatch.ports import ListPage, ObjectInfo

__all__ = ["BaseObjectStore", "check_max_keys"]


class BaseObjectStore(ABC):
    """Derive a backend from this and implement the abstract methods of `ObjectStore`."""

    bucket: str

    @abstractmethod
    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """See `mrbatch.ports.ObjectStore.get`."""

    @abstractmethod
    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """See `mrbatch.ports.ObjectStore.list_page`."""

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory; for small objects. Raises ObjectNotFoundError."""
        _, stream = self.get(key)
        with stream:
            return stream.read()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, one page at a time."""
        token: str | None = None
        while True:
            page = self.list_page(prefix, token=token)
            yield from page.objects
            if page.next_token is None:
                return
            token = page.next_token


def check_max_keys(max_keys: int) -> int:
    """`max_keys` if it is a sensible page size (1..1000, as S3); raise StorageError otherwise."""
    if not 1 <= max_keys <= 1000:
        raise StorageError(f"max_keys must be between 1 and 1000, got {max_keys}")
    return max_keys
