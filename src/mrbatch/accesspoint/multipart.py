"""Multipart uploads staged on the gateway's disk, apart from the wire format.

Layout under the staging directory (the gateway service uses `<data_dir>/run/multipart`):

    <upload id>/upload.json              key, user metadata, stored headers, initiation time
    <upload id>/part-00001-<md5 hex>     one file per staged part, named by number and ETag
                                         (and `-<checksum hex>` when the upload has a
                                         checksum algorithm)
    <upload id>/.tmp-*                   a part body still arriving
    <upload id>.completed                what a completion answered (key, part list, ETag,
                                         receipt), kept for a day so a retried
                                         CompleteMultipartUpload gets the same answer

Parts stream to a temporary file (flushed, fsynced) and are renamed into place, so a part
is either absent or whole; uploading the same part number again replaces it (S3: the last
upload wins). Completion checks the requested part list as S3 does, then streams the
parts' concatenation into the caller's `put` (the access point, hence the region that is
active at completion time), and only then removes the upload: the object appears in one
atomic put, raising one object-created event. If the put fails, the upload stays and the
client may retry the completion.

The completed object's ETag, as S3 computes it for multipart objects, is the MD5 of the
parts' binary MD5s followed by `-<number of parts>`; the Complete response returns it. The
region stores keep their own ETag (the MD5 of the content), which is what HEAD, GET and
LIST report afterwards.

Uploads with no activity for `ABANDONED_AFTER_SECONDS` (a day) are removed by
`remove_abandoned`, which the gateway calls at start (S3's lifecycle rule
AbortIncompleteMultipartUpload does the same job there).

Operations on one upload are serialised by a per-upload lock: the gateway is one process.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from mrbatch.accesspoint.concat import open_concatenated
from mrbatch.accesspoint.number import parse_decimal
from mrbatch.accesspoint.s3errors import (
    S3Error,
    entity_too_small,
    invalid_argument,
    invalid_part,
    invalid_part_order,
    malformed_xml,
    no_such_upload,
)
from mrbatch.atomic import atomic_write
from mrbatch.errors import StorageError
from mrbatch.storage.keys import validate_headers, validate_key, validate_metadata

__all__ = [
    "ABANDONED_AFTER_SECONDS",
    "MAX_PART_NUMBER",
    "MIN_PART_BYTES",
    "Completion",
    "MultipartStaging",
    "StagedPart",
    "Upload",
    "multipart_etag",
]

T = TypeVar("T")

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PART_NUMBER = 10_000
ABANDONED_AFTER_SECONDS = 24 * 3600.0
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART_FILE = re.compile(r"^part-(\d{5})-([0-9a-f]{32})(?:-([0-9a-f]+))?$")
_RECORD = "upload.json"


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress: what CreateMultipartUpload said."""

    upload_id: str
    key: str
    initiated: float
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None  # lower-case (`sha256`), as x-amz-checksum-*
    checksum_type: str | None = None  # COMPOSITE or FULL_OBJECT when an algorithm is set


@dataclass(frozen=True)
class Completion:
    """What a completed upload answered: a retry of the same completion answers it again."""

    key: str
    parts: list[tuple[int, str]]
    etag: str
    receipt: Mapping[str, str]


@dataclass(frozen=True)
class StagedPart:
    """One staged part: its number, ETag (MD5 hex, no quotes), size and file, and its
    checksum (base64) in the upload's checksum algorithm when it has one."""

    number: int
    etag: str
    size: int
    last_modified: float
    path: Path
    checksum: str | None = None


def multipart_etag(part_etags: Sequence[str]) -> str:
    """S3's ETag of a multipart object: md5 of the binary part MD5s, then `-N`.

    >>> multipart_etag(["d41d8cd98f00b204e9800998ecf8427e"])
    '59adb24ef3cdbe0297f05b395827453f-1'
    """
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in part_etags), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(part_etags)}"


def check_part_number(text: str) -> int:
    """The part number of a `partNumber` parameter. Raises 400 InvalidArgument."""
    try:
        return parse_decimal(text, low=1, high=MAX_PART_NUMBER)
    except ValueError:
        raise invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            "partNumber",
            text,
        ) from None


class MultipartStaging:
    """The multipart uploads in progress, staged under `directory` (created if missing).

    Example:

        staging = MultipartStaging(data_dir / "run" / "multipart")
        upload = staging.create("input/big.csv", {"owner": "ops"})
        with staging.part_sink(upload.upload_id) as (sink, temp):
            sink.write(body)
        part = staging.commit_part(upload.upload_id, 1, temp, md5_hex)
        upload, put_result, etag = staging.complete(upload.upload_id, [(1, part.etag)], put)
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the multipart staging directory: {exc}") from exc

    # --- uploads --------------------------------------------------------------------------

    def create(
        self,
        key: str,
        metadata: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
        *,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
    ) -> Upload:
        """Start an upload of `key`; the metadata and stored headers are applied when it
        completes. All are checked now, as a store's put would (InvalidKeyError,
        InvalidMetadataError), so a bad name fails before the parts are sent. With a
        `checksum_algorithm`, every part's checksum is kept (see `commit_part`)."""
        validate_key(key)
        upload = Upload(
            uuid.uuid4().hex,
            key,
            self._clock(),
            validate_metadata(metadata),
            validate_headers(headers),
            checksum_algorithm,
            checksum_type if checksum_algorithm else None,
        )
        folder = self.directory / upload.upload_id
        record = {
            "key": key,
            "initiated": upload.initiated,
            "metadata": dict(upload.metadata),
            "headers": dict(upload.headers),
            "checksum_algorithm": upload.checksum_algorithm,
            "checksum_type": upload.checksum_type,
        }
        try:
            folder.mkdir()
            atomic_write(folder / _RECORD, json.dumps(record).encode())
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise StorageError(f"cannot stage a multipart upload: {exc}") from exc
        return upload

    def upload(self, upload_id: str) -> Upload:
        """The upload `upload_id`. Raises 404 NoSuchUpload (also for a malformed id)."""
        if not _UPLOAD_ID.match(upload_id):
            raise no_such_upload(upload_id)
        try:
            record = json.loads((self.directory / upload_id / _RECORD).read_bytes())
        except FileNotFoundError:
            raise no_such_upload(upload_id) from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"multipart upload {upload_id} is unreadable: {exc}") from exc
        return Upload(
            upload_id,
            record["key"],
            record["initiated"],
            record["metadata"],
            record.get("headers", {}),  # uploads staged before headers were kept have none
            record.get("checksum_algorithm"),
            record.get("checksum_type"),
        )

    def uploads(self) -> list[Upload]:
        """Every upload in progress, by key then initiation time (ListMultipartUploads)."""
        found = []
        for folder in self.directory.iterdir():
            if folder.is_dir() and _UPLOAD_ID.match(folder.name):
                try:
                    found.append(self.upload(folder.name))
                except S3Error:
                    continue  # completed or aborted just now
        return sorted(found, key=lambda upload: (upload.key.encode(), upload.initiated))

    def abort(self, upload_id: str) -> None:
        """Remove the upload and its staged parts. Raises 404 NoSuchUpload."""
        with self._locked(upload_id):
            self.upload(upload_id)
            self._remove(upload_id)

    # --- parts ----------------------------------------------------------------------------

    @contextmanager
    def part_sink(self, upload_id: str) -> Iterator[tuple[BinaryIO, Path]]:
        """A temporary file in the upload's folder to receive a part body, and its path.
        On an exception the file is removed; otherwise pass the path to `commit_part`."""
        self.upload(upload_id)
        try:
            fd, name = tempfile.mkstemp(dir=self.directory / upload_id, prefix=".tmp-")
        except FileNotFoundError:
            raise no_such_upload(upload_id) from None  # aborted or completed just now
        except OSError as exc:
            raise StorageError(f"cannot stage a part of upload {upload_id}: {exc}") from exc
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as sink:
                yield cast(BinaryIO, sink), path
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise StorageError(f"cannot stage a part of upload {upload_id}: {exc}") from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def commit_part(
        self, upload_id: str, number: int, temp: Path, etag: str, checksum: str | None = None
    ) -> StagedPart:
        """Make the received body at `temp` part `number` (replacing an earlier one):
        fsync it, then rename it into place; `checksum` (base64) is kept in its name.
        Raises 404 NoSuchUpload (and drops `temp`) when the upload was completed or
        aborted meanwhile."""
        suffix = f"-{base64.b64decode(checksum).hex()}" if checksum else ""
        try:
            try:
                _fsync(temp)
            except FileNotFoundError:
                raise no_such_upload(upload_id) from None  # aborted while it arrived
            with self._locked(upload_id):
                self.upload(upload_id)
                final = temp.with_name(f"part-{number:05d}-{etag}{suffix}")
                os.replace(temp, final)
                for stale in final.parent.glob(f"part-{number:05d}-*"):
                    if stale != final:
                        stale.unlink(missing_ok=True)
                stat = final.stat()
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return StagedPart(number, etag, stat.st_size, stat.st_mtime, final, checksum)

    def parts(self, upload_id: str) -> list[StagedPart]:
        """The staged parts, by part number. Raises 404 NoSuchUpload."""
        self.upload(upload_id)
        found = []
        for path in (self.directory / upload_id).iterdir():
            match = _PART_FILE.match(path.name)
            if match is None:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # replaced by a newer upload of the same part just now
            checksum = base64.b64encode(bytes.fromhex(match[3])).decode() if match[3] else None
            found.append(
                StagedPart(int(match[1]), match[2], stat.st_size, stat.st_mtime, path, checksum)
            )
        return sorted(found, key=lambda part: part.number)

    # --- completion -----------------------------------------------------------------------

    def complete(
        self,
        upload_id: str,
        requested: Sequence[tuple[int, str]],
        put: Callable[[str, BinaryIO, Mapping[str, str]], T],
        receipt: Callable[[T], Mapping[str, str]] = lambda _: {},
    ) -> tuple[Upload, T, str]:
        """Check `requested` (part number, ETag) pairs against the staged parts, stream
        their concatenation into `put(key, data, metadata)`, record the completion (with
        `receipt(result)`, see `completed`), then remove the upload.

        Returns the upload, what `put` returned, and the multipart ETag. Raises S3Error
        (NoSuchUpload, MalformedXML, InvalidPartOrder, InvalidPart, EntityTooSmall); what
        `put` raises propagates and leaves the upload in place for a retry.
        """
        with self._locked(upload_id):
            upload, chosen = self.select(upload_id, requested)
            with open_concatenated([part.path for part in chosen]) as data:
                result = put(upload.key, data, upload.metadata)
            etag = multipart_etag([part.etag for part in chosen])
            record = {
                "key": upload.key,
                "parts": [[part.number, part.etag] for part in chosen],
                "etag": etag,
                "receipt": dict(receipt(result)),
            }
            atomic_write(self._completion_path(upload_id), json.dumps(record).encode())
            self._remove(upload_id)
        return upload, result, etag

    def select(
        self, upload_id: str, requested: Sequence[tuple[int, str]]
    ) -> tuple[Upload, list[StagedPart]]:
        """The upload and the staged parts `requested` names, checked as `complete` checks
        them (the parts a completion will use, to compute its checksums first)."""
        upload = self.upload(upload_id)
        return upload, _choose_parts(self.parts(upload_id), requested)

    def completed(self, upload_id: str, requested: Sequence[tuple[int, str]]) -> Completion:
        """What the completion of `upload_id` answered, when it completed with exactly the
        `requested` parts within the last day. Raises 404 NoSuchUpload otherwise (S3
        answers a retried completion the same; a different part list is a new request)."""
        if not _UPLOAD_ID.match(upload_id):
            raise no_such_upload(upload_id)
        try:
            record = json.loads(self._completion_path(upload_id).read_bytes())
        except FileNotFoundError:
            raise no_such_upload(upload_id) from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"completion of {upload_id} is unreadable: {exc}") from exc
        parts = [(int(number), str(etag)) for number, etag in record["parts"]]
        if parts != [(number, etag.strip('"').lower()) for number, etag in requested]:
            raise no_such_upload(upload_id)
        return Completion(record["key"], parts, record["etag"], record["receipt"])

    def _completion_path(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.completed"

    # --- housekeeping ---------------------------------------------------------------------

    def remove_abandoned(self, older_than: float = ABANDONED_AFTER_SECONDS) -> list[str]:
        """Remove uploads with no activity (creation, part) for `older_than` seconds;
        return their ids. Stray entries that are not uploads are removed the same way."""
        removed = []
        for folder in self.directory.iterdir():
            if _last_activity(folder) < self._clock() - older_than:
                with self._locked(folder.name):
                    self._remove(folder.name)
                removed.append(folder.name)
        return removed

    def _remove(self, upload_id: str) -> None:
        path = self.directory / upload_id
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    @contextmanager
    def _locked(self, upload_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(upload_id, threading.Lock())
        try:
            with lock:
                yield
        finally:
            if not (self.directory / upload_id).exists():
                with self._guard:  # unknown ids must not pile up locks
                    self._locks.pop(upload_id, None)


def _choose_parts(
    staged: Sequence[StagedPart], requested: Sequence[tuple[int, str]]
) -> list[StagedPart]:
    """The staged parts `requested` names, checked in S3's order: the list is non-empty and
    ascending, each part exists with that ETag, each but the last has the minimum size.

    A part number listed more than once is used once, with the ETag of its last entry: S3
    accepts such a list (an SDK that re-sent a part may list both uploads; ceph/s3-tests'
    test_multipart_resend_first_finishes_last records it) and builds the object from the
    part as last uploaded."""
    if not requested:
        raise malformed_xml("the part list is empty")
    numbers = [number for number, _ in requested]
    if any(later < earlier for earlier, later in itertools.pairwise(numbers)):
        raise invalid_part_order()
    by_number = {part.number: part for part in staged}
    last_entries = dict(requested)  # the last ETag listed for each number, in order
    chosen = []
    for number, etag in last_entries.items():
        part = by_number.get(number)
        if part is None or part.etag != etag.strip('"').lower():
            raise invalid_part(number, etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_BYTES:
            raise entity_too_small(part.number, part.size, MIN_PART_BYTES)
    return chosen


def _last_activity(folder: Path) -> float:
    """The newest modification time in an upload folder (the folder's own if empty)."""
    try:
        times = [folder.stat().st_mtime]
        if folder.is_dir():
            times += [entry.stat().st_mtime for entry in folder.iterdir()]
    except FileNotFoundError:
        return float("inf")  # removed concurrently: nothing to do
    return max(times)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
