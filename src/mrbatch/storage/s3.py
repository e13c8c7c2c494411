"""S3ObjectStore: the AWS implementation of `ObjectStore`, over an injected boto3 S3 client.

The client is passed in (never created at import time), so the same class talks to S3, to
moto in tests, or to the local gateway. botocore errors are turned into mrbatch's at this
boundary; callers never see a `ClientError`.

Buckets should be versioned (S3 Cross-Region Replication requires it): `version_id` is S3's
VersionId, or "null" on an unversioned bucket. A put made by the local replicator (with
`replication_status` / `version_id`) keeps those two in reserved user metadata
(`mrbatch-replication-status`, `mrbatch-version-id`) since S3 does not let a client set
them; a replica written by S3 CRR itself reports S3's `x-amz-replication-status`. The
stored headers are sent as S3's own (ContentType, CacheControl, ...) so S3 serves them, and
kept exactly as given in `mrbatch-headers` (base64 JSON), since S3 reports defaults for those
never set and computes checksums of its own.

Example (needs a real or mocked S3):
    store = S3ObjectStore(boto3.client("s3"), "mrbatch-us-east-1")
    store.put("input/a.csv", b"x,y\\n", if_none_match=True)
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from mrbatch.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from mrbatch.ports import ListPage, ObjectInfo
from mrbatch.storage.base import BaseObjectStore, check_max_keys
from mrbatch.storage.keys import (
    validate_headers,
    validate_key,
    validate_metadata,
    validate_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3ObjectStore"]

_STATUS_META = "mrbatch-replication-status"
_VERSION_META = "mrbatch-version-id"
_HEADERS_META = "mrbatch-headers"
# Stored headers S3 takes as PutObject parameters (Expires is kept in metadata only: boto3
# wants a datetime, and the header must come back exactly as it was given).
_HEADER_PARAMS = {
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "content-type": "ContentType",
}
# Our tokens wrap S3's, so a token from another store is refused here, not sent to S3.
_TOKEN_PREFIX = "s3:"
_READ_BUFFER = 1 << 20  # bytes a buffered read of an object asks S3 for at once
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_EXISTS = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3ObjectStore(BaseObjectStore):
    """One S3 bucket through `client` (a boto3 S3 client)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

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
        """See `mrbatch.ports.ObjectStore.put` (a single PutObject: up to 5 GB)."""
        validate_key(key)
        meta = validate_metadata(metadata)
        stored = validate_headers(headers)
        if replication_status is not None:
            meta[_STATUS_META] = replication_status
        if version_id is not None:
            meta[_VERSION_META] = version_id
        if stored:
            meta[_HEADERS_META] = _encode_headers(stored)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data, "Metadata": meta}
        args.update({_HEADER_PARAMS[n]: v for n, v in stored.items() if n in _HEADER_PARAMS})
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = f'"{if_match}"'
        with _translated(key, if_match=if_match is not None):
            response = self.client.put_object(**args)
            return self._head_version(key, response.get("VersionId"))

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """See `mrbatch.ports.ObjectStore.get`; botocore's StreamingBody behind a buffered
        reader, so the stream is a real BinaryIO (StreamingBody iterates by 1 KiB chunks,
        not by lines)."""
        validate_key(key)
        with _translated(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        body = io.BufferedReader(_RawBody(response["Body"]), _READ_BUFFER)
        return _info(key, cast(Mapping[str, Any], response)), cast(BinaryIO, body)

    def head(self, key: str) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.head`."""
        validate_key(key)
        with _translated(key):
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        return _info(key, cast(Mapping[str, Any], response))

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """See `mrbatch.ports.ObjectStore.list_page` (ListObjectsV2: listings carry no
        metadata or version id; `head` an object for those)."""
        validate_prefix(prefix)
        check_max_keys(max_keys)
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if token:
            if not token.startswith(_TOKEN_PREFIX):
                raise StorageError(f"invalid continuation token: {token!r}")
            args["ContinuationToken"] = token.removeprefix(_TOKEN_PREFIX)
        with _translated(prefix):
            response = self.client.list_objects_v2(**args)
        objects = [
            ObjectInfo(
                key=entry["Key"],
                size=entry["Size"],
                etag=entry["ETag"].strip('"'),
                version_id="",
                last_modified=entry["LastModified"].timestamp(),
            )
            for entry in response.get("Contents", [])
        ]
        following = response.get("NextContinuationToken")
        more = response.get("IsTruncated", False) and following
        return ListPage(objects, _TOKEN_PREFIX + following if more and following else None)

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """See `mrbatch.ports.ObjectStore.copy`. The copy is a new object, never a replica:
        metadata is always rewritten, so replication markers are not carried over."""
        validate_key(dest_key)
        source = self.head(source_key)
        meta = validate_metadata(source.metadata if metadata is None else metadata)
        if source.headers:
            meta[_HEADERS_META] = _encode_headers(source.headers)
        with _translated(source_key):
            response = self.client.copy_object(
                Bucket=self.bucket,
                Key=dest_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                Metadata=meta,
                MetadataDirective="REPLACE",
            )
        with _translated(dest_key):
            return self._head_version(dest_key, response.get("VersionId"))

    def _head_version(self, key: str, version_id: str | None) -> ObjectInfo:
        """Info of exactly the version just written (a plain HEAD could see a later one)."""
        if version_id is None or version_id == "null":
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        else:
            response = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version_id)
        return _info(key, cast(Mapping[str, Any], response))

    def delete(self, key: str) -> None:
        """See `mrbatch.ports.ObjectStore.delete` (on a versioned bucket: a delete marker)."""
        validate_key(key)
        with _translated(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)


class _RawBody(io.RawIOBase):
    """A StreamingBody as a raw stream (readinto), for `io.BufferedReader`."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _info(key: str, response: Mapping[str, Any]) -> ObjectInfo:
    """ObjectInfo from a HeadObject / GetObject response."""
    meta = dict(response.get("Metadata", {}))
    status = meta.pop(_STATUS_META, None) or response.get("ReplicationStatus")
    version = meta.pop(_VERSION_META, None) or response.get("VersionId") or "null"
    headers = _decode_headers(meta.pop(_HEADERS_META, ""))
    return ObjectInfo(
        key=key,
        size=int(response["ContentLength"]),
        etag=str(response["ETag"]).strip('"'),
        version_id=version,
        last_modified=response["LastModified"].timestamp(),
        metadata=meta,
        replication_status=status,
        headers=headers,
    )


def _encode_headers(headers: Mapping[str, str]) -> str:
    return base64.b64encode(json.dumps(dict(headers), sort_keys=True).encode()).decode("ascii")


def _decode_headers(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        found = json.loads(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise StorageError(f"unreadable {_HEADERS_META} metadata: {text[:80]!r}") from exc
    return {str(name): str(value) for name, value in dict(found).items()}


class _translated:
    """Turn botocore errors raised inside the block into mrbatch storage errors; a 412 is
    a failed if-match when the block made a put with one, a taken key otherwise."""

    def __init__(self, key: str, *, if_match: bool = False) -> None:
        self.key = key
        self.if_match = if_match

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _NOT_FOUND:
                raise ObjectNotFoundError(self.key) from exc
            if code in _EXISTS and self.if_match:
                raise PreconditionFailedError(self.key) from exc
            if code in _EXISTS:
                raise ObjectExistsError(self.key) from exc
            raise StorageError(
                f"S3 refused the request for {self.key!r}: {code} {error.get('Message', '')}"
            ) from exc
        if isinstance(exc, BotoCoreError):
            raise StorageError(f"S3 could not be reached for {self.key!r}: {exc}") from exc
