"""LocalObjectStore: one region's bucket as a directory, with S3's semantics.

Layout of the bucket directory:

    index.db           SQLite (WAL): one row per object: key, blob name, size, etag, version,
                       metadata, replication status, stored headers
    blobs/ab/<name>    the bodies, each written once under a fresh random name

Keys never become paths: a body's file name is random, and the key lives only in the index,
so no key (`../x`, `/abs`, a 1024-byte unicode key) can touch anything outside `blobs/`,
and every S3-legal key that `validate_key` accepts works.

A put streams the body to a temporary file in `blobs/`, fsyncs it and renames it to its
final name, then commits the index row in one `BEGIN IMMEDIATE` transaction (which is where
`if_none_match` is checked, so create-only is race-free across processes). Readers see the
row and its body together or not at all; the replaced body is unlinked only after the
commit (a reader that already opened it keeps reading it; one that lost the race re-reads
the index). Keys are stored as UTF-8 BLOBs, so SQLite's memcmp order is S3's listing order.

Example:
    >>> import tempfile
    >>> store = LocalObjectStore(tempfile.mkdtemp(), bucket="us-east-1")
    >>> info = store.put("input/a.csv", b"x,y\\n", metadata={"source": "demo"})
    >>> store.head("input/a.csv").etag == info.etag
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mrbatch.atomic import atomic_writer
from mrbatch.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from mrbatch.ports import ListPage, ObjectInfo
from mrbatch.state.db import SqliteDatabase
from mrbatch.storage.base import BaseObjectStore, check_max_keys
from mrbatch.storage.keys import (
    decode_token,
    encode_token,
    validate_headers,
    validate_key,
    validate_metadata,
    validate_prefix,
)

__all__ = ["LocalObjectStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key BLOB PRIMARY KEY,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_modified REAL NOT NULL,
    metadata TEXT NOT NULL,
    replication_status TEXT,
    headers TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID
"""
# A bucket made before objects kept their headers gains the column (empty for old rows).
_ADD_HEADERS = "ALTER TABLE objects ADD COLUMN headers TEXT NOT NULL DEFAULT '{}'"
_COLUMNS = "key, blob, size, etag, version_id, last_modified, metadata, replication_status, headers"
_CHUNK = 1024 * 1024
# A reader retries when a concurrent put replaced the body between its index read and open.
_OPEN_ATTEMPTS = 20


class LocalObjectStore(BaseObjectStore):
    """A bucket in `directory` (created if missing); safe for many threads and processes."""

    def __init__(self, directory: Path | str, *, bucket: str | None = None) -> None:
        self.directory = Path(directory)
        self.bucket = bucket or self.directory.name
        self._blobs = self.directory / "blobs"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create bucket directory {self.directory}: {exc}") from exc
        self._db = SqliteDatabase(self.directory / "index.db", error=StorageError)
        with self._db.transaction() as conn:
            conn.execute(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(objects)")}
            if "headers" not in columns:
                conn.execute(_ADD_HEADERS)

    def close(self) -> None:
        """Close the index; streams already returned by `get` stay readable."""
        self._db.close()

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
        blob, size, etag = self._write_blob(data)
        info = ObjectInfo(
            key=key,
            size=size,
            etag=etag,
            version_id=version_id or uuid.uuid4().hex,
            last_modified=time.time(),
            metadata=meta,
            replication_status=replication_status,
            headers=stored_headers,
        )
        try:
            replaced = self._commit(info, blob, if_none_match, if_match)
        except BaseException:
            self._unlink(blob)
            raise
        if replaced is not None:
            self._unlink(replaced)
        return info

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """See `mrbatch.ports.ObjectStore.get`. The stream reads from disk in chunks."""
        validate_key(key)
        for _ in range(_OPEN_ATTEMPTS):
            info, blob = self._find(key)
            try:
                return info, open(self._blob_path(blob), "rb")  # the caller closes it
            except FileNotFoundError:
                continue  # replaced by a concurrent put after we read the index: read again
        raise StorageError(f"object {key!r} keeps changing; could not open it")

    def head(self, key: str) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.head`."""
        validate_key(key)
        return self._find(key)[0]

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """See `mrbatch.ports.ObjectStore.list_page`; full info, metadata included."""
        validate_prefix(prefix)
        check_max_keys(max_keys)
        low = prefix.encode()
        after = decode_token(token).encode() if token else b""
        with self._db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM objects WHERE key >= ? AND key > ? AND key < ? "
                "ORDER BY key LIMIT ?",
                (low, after, _prefix_end(low), max_keys + 1),
            ).fetchall()
        infos = [_info(row) for row in rows[:max_keys]]
        more = len(rows) > max_keys
        return ListPage(infos, encode_token(infos[-1].key) if more else None)

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.copy`; streams, so large objects are fine."""
        validate_key(dest_key)
        source, stream = self.get(source_key)
        with stream:
            meta = source.metadata if metadata is None else metadata
            return self.put(dest_key, stream, metadata=meta, headers=source.headers)

    def delete(self, key: str) -> None:
        """See `mrbatch.ports.ObjectStore.delete`."""
        validate_key(key)
        with self._db.transaction() as conn:
            row = conn.execute("SELECT blob FROM objects WHERE key = ?", (key.encode(),)).fetchone()
            conn.execute("DELETE FROM objects WHERE key = ?", (key.encode(),))
        if row is not None:
            self._unlink(row[0])

    def collect_garbage(self, *, older_than: float = 3600.0) -> int:
        """Remove body files no index row points at (left by a crash between writing a body
        and committing its row) once older than `older_than` seconds, so puts still in
        flight are never touched. Returns how many files were removed."""
        cutoff = time.time() - older_than
        candidates = [
            p for p in self._blobs.glob("*/*") if p.is_file() and p.stat().st_mtime < cutoff
        ]
        if not candidates:
            return 0
        with self._db.reading() as conn:
            live = {row[0] for row in conn.execute("SELECT blob FROM objects")}
        removed = 0
        for path in candidates:
            if path.name not in live:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    # --- internals ---------------------------------------------------------------------

    def _find(self, key: str) -> tuple[ObjectInfo, str]:
        with self._db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM objects WHERE key = ?", (key.encode(),)
            ).fetchone()
        if row is None:
            raise ObjectNotFoundError(key)
        return _info(row), row[1]

    def _commit(
        self, info: ObjectInfo, blob: str, if_none_match: bool, if_match: str | None
    ) -> str | None:
        """Point the key at `blob`; return the body it replaced, if any. The conditions are
        checked inside the write transaction, so no other writer can slip in between."""
        key = info.key.encode()
        with self._db.transaction() as conn:
            old = conn.execute("SELECT blob, etag FROM objects WHERE key = ?", (key,)).fetchone()
            if old is not None and if_none_match:
                raise ObjectExistsError(info.key)
            if if_match is not None and old is None:
                raise ObjectNotFoundError(info.key)
            if if_match is not None and old[1] != if_match:
                raise PreconditionFailedError(info.key)
            conn.execute(
                f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    blob,
                    info.size,
                    info.etag,
                    info.version_id,
                    info.last_modified,
                    json.dumps(dict(info.metadata), sort_keys=True),
                    info.replication_status,
                    json.dumps(dict(info.headers), sort_keys=True),
                ),
            )
        return None if old is None else str(old[0])

    def _write_blob(self, data: bytes | BinaryIO) -> tuple[str, int, str]:
        """Write the body under a fresh name (temp file, fsync, rename); (name, size, md5)."""
        source: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
        name = uuid.uuid4().hex
        final = self._blob_path(name)
        final.parent.mkdir(exist_ok=True)
        digest, size = hashlib.md5(usedforsecurity=False), 0
        try:
            with atomic_writer(final, sync_directory=True) as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise StorageError(f"cannot write object body in {self.directory}: {exc}") from exc
        return name, size, digest.hexdigest()

    def _blob_path(self, name: str) -> Path:
        return self._blobs / name[:2] / name

    def _unlink(self, blob: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._blob_path(blob))


def _info(row: tuple[Any, ...]) -> ObjectInfo:
    key, _, size, etag, version_id, last_modified, metadata, status, headers = row
    return ObjectInfo(
        key=bytes(key).decode(),
        size=size,
        etag=etag,
        version_id=version_id,
        last_modified=last_modified,
        metadata=json.loads(metadata),
        replication_status=status,
        headers=json.loads(headers),
    )


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest byte string greater than every string starting with `prefix`
    (b"\xff" * 1025 when there is none: keys are at most 1024 bytes)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * 1025
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
