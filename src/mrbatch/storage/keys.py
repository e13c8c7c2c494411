"""Validation of object keys, user metadata and listing tokens, shared by every store.

Every `ObjectStore` implementation (and the gateway) calls these first, so a hostile key is
refused the same way whatever the backend: with an `InvalidKeyError` whose message says why.
S3 itself accepts a few of the keys refused here (`../x`, `a\\b`); refusing them everywhere
keeps the local store, the gateway and S3 interchangeable and keeps keys safe to turn into
paths by any tool downstream.

Example:
    >>> validate_key("input/sales 2024.csv")
    'input/sales 2024.csv'
    >>> try:
    ...     validate_key("../etc/passwd")
    ... except InvalidKeyError as err:
    ...     print(err)
    object key must not contain '.' or '..' segments: '../etc/passwd'
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from mrbatch.errors import InvalidKeyError, InvalidMetadataError, StorageError
from mrbatch.ports import CHECKSUM_HEADER_PREFIX, MULTIPART_HEADER, STORED_HEADERS

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_METADATA_BYTES",
    "RESERVED_METADATA_PREFIX",
    "decode_token",
    "encode_token",
    "validate_headers",
    "validate_key",
    "validate_metadata",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024
# S3 limits user-defined metadata to 2 KB (keys + values, as UTF-8).
MAX_METADATA_BYTES = 2048
# Metadata names the stores use for themselves (the S3 store keeps replication markers there).
RESERVED_METADATA_PREFIX = "mrbatch-"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_META_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_META_VALUE = re.compile(r"^[\x20-\x7e]*$")
# Header values travel as latin-1 on the wire: any of its printable characters may be kept.
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\xa0-\xff]*$")
_CHECKSUM_NAME = re.compile(r"^x-amz-checksum-[a-z0-9]+$")


def validate_key(key: object) -> str:
    """Return `key` when it is an acceptable object key; raise InvalidKeyError otherwise.

    Accepted: a str that encodes to 1..1024 bytes of UTF-8, without control characters,
    backslashes, a leading `/`, or a `.` / `..` path segment.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"object key must be a string, not {type(key).__name__}")
    encoded = _utf8(key)
    if not 1 <= len(encoded) <= MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"object key must be 1 to {MAX_KEY_BYTES} bytes of UTF-8, got {len(encoded)}"
        )
    _check_characters(key)
    if key.startswith("/"):
        raise InvalidKeyError(f"object key must not start with '/': {key!r}")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise InvalidKeyError(f"object key must not contain '.' or '..' segments: {key!r}")
    return key


def validate_prefix(prefix: object) -> str:
    """Return `prefix` when it can start a valid key (the empty prefix lists everything)."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"prefix must be a string, not {type(prefix).__name__}")
    if len(_utf8(prefix)) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"prefix longer than {MAX_KEY_BYTES} bytes")
    _check_characters(prefix)
    return prefix


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of user metadata that every backend can store and return unchanged.

    Names are lower-case tokens (S3 lower-cases them on the wire), values printable ASCII
    (they travel as HTTP headers), 2 KB at most in total; raise InvalidMetadataError.
    """
    result = dict(metadata or {})
    size = 0
    for name, value in result.items():
        if not isinstance(name, str) or not _META_NAME.match(name):
            raise InvalidMetadataError(
                f"metadata name must be lower-case letters, digits, '.', '_' or '-': {name!r}"
            )
        if name.startswith(RESERVED_METADATA_PREFIX):
            raise InvalidMetadataError(
                f"metadata names starting with 'mrbatch-' are reserved: {name!r}"
            )
        if not isinstance(value, str) or not _META_VALUE.match(value):
            raise InvalidMetadataError(f"metadata value for {name!r} must be printable ASCII")
        size += len(name) + len(value)
    if size > MAX_METADATA_BYTES:
        raise InvalidMetadataError(f"metadata is {size} bytes, more than {MAX_METADATA_BYTES}")
    return result


def validate_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of the standard headers to store with an object (`STORED_HEADERS`,
    `x-amz-checksum-<algorithm>` and `MULTIPART_HEADER`, lower-case names, printable latin-1
    values, 8 KB at most in total, as S3 bounds a request's headers); raise
    InvalidMetadataError otherwise."""
    result = dict(headers or {})
    size = 0
    for name, value in result.items():
        if (
            name not in STORED_HEADERS
            and name != MULTIPART_HEADER
            and not (
                isinstance(name, str)
                and name.startswith(CHECKSUM_HEADER_PREFIX)
                and _CHECKSUM_NAME.match(name)
            )
        ):
            raise InvalidMetadataError(f"{name!r} is not a header an object can keep")
        if not isinstance(value, str) or not _HEADER_VALUE.match(value):
            raise InvalidMetadataError(f"header {name!r} must be printable latin-1 text")
        size += len(name) + len(value)
    if size > 8192:
        raise InvalidMetadataError(f"stored headers are {size} bytes, more than 8192")
    return result


def encode_token(last_key: str) -> str:
    """An opaque continuation token meaning "after `last_key`" (URL-safe base64)."""
    return base64.urlsafe_b64encode(last_key.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    """The key a token from `encode_token` continues after; raise StorageError if forged."""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (UnicodeError, ValueError, binascii.Error) as exc:
        raise StorageError(f"invalid continuation token: {token!r}") from exc


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKeyError(f"object key is not valid UTF-8: {text!r}") from exc


def _check_characters(text: str) -> None:
    if _CONTROL.search(text):
        raise InvalidKeyError(f"object key must not contain control characters: {text!r}")
    if "\\" in text:
        raise InvalidKeyError(f"object key must not contain a backslash: {text!r}")
