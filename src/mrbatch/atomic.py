"""Atomic file writes, the one helper every layer uses: readers see the old file or the new
one, never a part, and a crash mid-write leaves at most a stray temp file.

The recipe: a temp file in the target's own directory (so the rename cannot cross file
systems), write, flush, fsync, `os.replace`, and on request an fsync of the directory so
the rename itself survives a power loss.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, b"hello")
    >>> target.read_bytes()
    b'hello'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

__all__ = ["atomic_write", "atomic_write_json", "atomic_writer", "fsync_directory"]


@contextlib.contextmanager
def atomic_writer(path: Path, *, sync_directory: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: it appears under `path` only if the block ends
    without an exception (after an fsync); otherwise the temp file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield cast(BinaryIO, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_directory:
        fsync_directory(path.parent)


def atomic_write(path: Path, data: bytes, *, sync_directory: bool = False) -> None:
    """Write `data` to `path` atomically."""
    with atomic_writer(path, sync_directory=sync_directory) as handle:
        handle.write(data)


def atomic_write_json(path: Path, record: Any) -> None:
    """Write `record` as indented, key-sorted JSON to `path` atomically."""
    atomic_write(path, json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))


def fsync_directory(path: Path) -> None:
    """Make a rename inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
