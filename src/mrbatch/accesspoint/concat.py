"""A seekable, read-only file over several files read back to back.

Completing a multipart upload hands the object store the parts' concatenation as one
stream: no copy of the object on disk, never the whole object in memory, and seekable
because the access point rewinds the body when it retries another region.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, cast

from mrbatch.errors import StorageError

__all__ = ["ConcatenatedFile", "open_concatenated"]


class ConcatenatedFile(io.RawIOBase):
    """The bytes of `paths`, in order, as one file. The files must not change while open
    (multipart parts are immutable once staged)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self._paths = list(paths)
        self._sizes = [path.stat().st_size for path in self._paths]
        self._size = sum(self._sizes)
        self._position = 0
        self._index = -1
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` from the file holding the current position (one file per call)."""
        view = memoryview(buffer).cast("B")
        index, offset = self._locate(self._position)
        if index is None or not len(view):
            return 0
        stream = self._open(index)
        stream.seek(offset)
        count = stream.readinto(view[: self._sizes[index] - offset])  # type: ignore[attr-defined]
        if not count:
            raise StorageError(f"part file {self._paths[index]} is shorter than when opened")
        self._position += count
        return cast(int, count)

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()

    def _locate(self, position: int) -> tuple[int | None, int]:
        for index, size in enumerate(self._sizes):
            if position < size:
                return index, position
            position -= size
        return None, 0

    def _open(self, index: int) -> BinaryIO:
        if index != self._index or self._current is None:
            if self._current is not None:
                self._current.close()
            self._current = open(self._paths[index], "rb", buffering=0)  # noqa: SIM115
            self._index = index
        return self._current


def open_concatenated(paths: Sequence[Path], buffer_size: int = 1024 * 1024) -> BinaryIO:
    """A buffered reader over the concatenation of `paths` (the caller closes it)."""
    return cast(BinaryIO, io.BufferedReader(ConcatenatedFile(paths), buffer_size))
