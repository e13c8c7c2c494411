"""Object keys as the access point accepts them, decoded from the request path.

The rules are the stores' own (`mrbatch.storage.keys`): one definition of a hostile key for
the whole system. The gateway applies them before any store sees the key and turns the
refusal into S3's 400 errors (InvalidArgument, KeyTooLongError).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from mrbatch.accesspoint.s3errors import S3Error, invalid_argument
from mrbatch.errors import InvalidKeyError
from mrbatch.storage.keys import MAX_KEY_BYTES, validate_key

__all__ = ["decode_key", "key_error"]


def decode_key(raw: str) -> str:
    """The key named by the percent-encoded path part `raw`, validated.
    Raises S3Error (400 InvalidArgument, KeyTooLongError)."""
    try:
        key = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_argument("Object keys must be valid UTF-8", "key", raw[:200]) from None
    try:
        return validate_key(key)
    except InvalidKeyError as exc:
        raise key_error(key, exc) from None


def key_error(key: str, exc: InvalidKeyError) -> S3Error:
    """S3's error for a key a store refused."""
    if len(key.encode("utf-8", "replace")) > MAX_KEY_BYTES:
        return S3Error(
            "KeyTooLongError", "Your key is too long", 400, {"MaxSizeAllowed": str(MAX_KEY_BYTES)}
        )
    return invalid_argument(str(exc), "key", key.encode("unicode_escape").decode("ascii")[:200])
