"""ListObjects (v1) and ListObjectsV2 at the access point: the walk over the merged listing
and the two `<ListBucketResult>` documents.

Both versions share one walk: keys under the prefix, after a position, rolled up into
common prefixes by the delimiter, at most max-keys entries. The position is the last entry
returned (a key or a common prefix); every key whose entry sorts at or before it is skipped,
so a common prefix is never returned twice across pages. v1 names the position `marker`
(and returns `NextMarker` only with a delimiter, as S3 does: without one the client carries
on from its last key); v2 wraps it in an opaque continuation token.

A prefix no valid key can start with (a control character, a backslash) lists nothing, as
on S3, where no such key exists, rather than being refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape

from mrbatch.accesspoint.number import INT32_MAX, parse_decimal
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.responses import S3_XMLNS, iso8601
from mrbatch.accesspoint.s3errors import invalid_argument
from mrbatch.errors import InvalidKeyError
from mrbatch.ports import ObjectInfo
from mrbatch.storage.keys import validate_prefix

__all__ = ["ListQuery", "Listing", "list_v1_xml", "list_v2_xml", "parse_query", "walk"]

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class ListQuery:
    """What a listing request asks, whichever version: `after` is the position to start
    after (a key or a common prefix; "" from the start)."""

    prefix: str
    delimiter: str
    max_keys: int
    after: str
    url_encode: bool


@dataclass
class Listing:
    """One page: keys and common prefixes in order, and the last entry when truncated."""

    contents: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_after: str | None = None


def parse_query(params: Mapping[str, str], after: str) -> ListQuery:
    """The query parameters shared by both versions. Raises 400 InvalidArgument."""
    return ListQuery(
        prefix=params.get("prefix", ""),
        delimiter=params.get("delimiter", ""),
        max_keys=_max_keys(params.get("max-keys")),
        after=after,
        url_encode=_encoding_type(params.get("encoding-type")),
    )


def walk(access_point: AccessPoint, query: ListQuery) -> Listing:
    """One page of the merged listing of every available region."""
    listing = Listing()
    if query.max_keys == 0 or not _can_start_a_key(query.prefix):
        return listing
    last = query.after
    for info in access_point.list(query.prefix, start_after=query.after):
        entry = _common_prefix(info.key, query.prefix, query.delimiter)
        if (entry or info.key).encode() <= last.encode():
            continue  # under a common prefix already returned
        if len(listing.contents) + len(listing.common_prefixes) == query.max_keys:
            listing.next_after = last
            break
        if entry is None:
            listing.contents.append(info)
        else:
            listing.common_prefixes.append(entry)
        last = entry or info.key
    return listing


def encode_token(after: str) -> str:
    """The continuation token for a position (opaque to clients)."""
    return base64.urlsafe_b64encode(f"p:{after}".encode()).decode("ascii")


def decode_token(token: str) -> str:
    """The position a continuation token stands for ("" for the empty token, as S3 starts
    from the beginning). Raises 400 InvalidArgument for a token not issued here."""
    if token == "":
        return ""
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (UnicodeError, ValueError, binascii.Error):
        text = ""
    if not text.startswith("p:"):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        )
    return text[2:]


def list_v1_xml(bucket: str, query: ListQuery, marker: str, listing: Listing, owner: str) -> bytes:
    """ListObjects (v1): Marker, NextMarker (with a delimiter), Owner on every key."""
    text = _encoder(query.url_encode)
    parts = [
        _element("Name", bucket),
        # Unencoded even with encoding-type=url: S3 sends v1's Prefix as given (botocore
        # decodes Marker, NextMarker, Delimiter and the keys of a v1 listing, not Prefix).
        _element("Prefix", query.prefix),
        _element("Marker", text(marker)),
        _element("MaxKeys", query.max_keys),
        _element("IsTruncated", listing.next_after is not None),
    ]
    if listing.next_after is not None and query.delimiter:
        parts.append(_element("NextMarker", text(listing.next_after)))
    parts += _common_parts(query, listing, owner)
    return _document(parts)


def list_v2_xml(
    bucket: str,
    query: ListQuery,
    listing: Listing,
    *,
    start_after: str,
    token: str | None,
    owner: str | None,
) -> bytes:
    """ListObjectsV2: KeyCount, tokens, StartAfter; Owner only when fetch-owner asked."""
    text = _encoder(query.url_encode)
    parts = [
        _element("Name", bucket),
        _element("Prefix", text(query.prefix)),
        _element("KeyCount", len(listing.contents) + len(listing.common_prefixes)),
        _element("MaxKeys", query.max_keys),
        _element("IsTruncated", listing.next_after is not None),
    ]
    if start_after:
        parts.append(_element("StartAfter", text(start_after)))
    if token is not None:
        parts.append(_element("ContinuationToken", token))
    if listing.next_after is not None:
        parts.append(_element("NextContinuationToken", encode_token(listing.next_after)))
    parts += _common_parts(query, listing, owner)
    return _document(parts)


def _common_parts(query: ListQuery, listing: Listing, owner: str | None) -> list[str]:
    text = _encoder(query.url_encode)
    parts = []
    if query.delimiter:
        parts.append(_element("Delimiter", text(query.delimiter)))
    if query.url_encode:
        parts.append(_element("EncodingType", "url"))
    parts += [_contents(info, text(info.key), owner) for info in listing.contents]
    parts += [
        "<CommonPrefixes>" + _element("Prefix", text(p)) + "</CommonPrefixes>"
        for p in listing.common_prefixes
    ]
    return parts


def _contents(info: ObjectInfo, key: str, owner: str | None) -> str:
    fields = [
        _element("Key", key),
        _element("LastModified", iso8601(info.last_modified)),
        _element("ETag", f'"{info.etag}"'),
        _element("Size", info.size),
        _element("StorageClass", "STANDARD"),
    ]
    if owner is not None:
        fields.append(
            "<Owner>" + _element("ID", owner) + _element("DisplayName", owner) + "</Owner>"
        )
    return "<Contents>" + "".join(fields) + "</Contents>"


def _document(parts: Iterable[str]) -> bytes:
    body = "".join(parts)
    return f'{_DECLARATION}<ListBucketResult xmlns="{S3_XMLNS}">{body}</ListBucketResult>'.encode()


def _element(name: str, value: str | int | bool) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    # XML 1.0 cannot carry most control characters even escaped; S3 sends them as
    # character references, which botocore's parser reads back.
    return f"<{name}>{_xml_text(text)}</{name}>"


def _xml_text(value: str) -> str:
    """Escaped for XML 1.0: white space as character references (S3 sends them so), other
    control characters, which XML 1.0 cannot carry at all, as U+FFFD."""
    escaped = escape(value)
    return "".join(
        f"&#{ord(ch)};" if ch in "\n\r\t" else "\ufffd" if ord(ch) < 0x20 else ch for ch in escaped
    )


def _encoder(url_encode: bool) -> Callable[[str], str]:
    """encoding-type=url: keys may hold characters XML 1.0 cannot carry; botocore asks for
    this by default and unquotes the fields itself."""
    return _url_quote if url_encode else _unchanged


def _url_quote(value: str) -> str:
    return quote(value, safe="/")


def _unchanged(value: str) -> str:
    return value


def _can_start_a_key(prefix: str) -> bool:
    try:
        validate_prefix(prefix)
    except InvalidKeyError:
        return False
    return True


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return None if position < 0 else key[: position + len(delimiter)]


def _max_keys(value: str | None) -> int:
    """S3 accepts any non-negative max-keys that fits a 32-bit integer and returns at most
    1,000 keys; anything else is 400 InvalidArgument."""
    if value is None:
        return 1000
    try:
        return min(parse_decimal(value, high=INT32_MAX), 1000)
    except ValueError:
        raise invalid_argument(
            "Provided max-keys not an integer or within integer range", "max-keys", value
        ) from None


def _encoding_type(value: str | None) -> bool:
    if value is None:
        return False
    if value != "url":
        raise invalid_argument(
            "Invalid Encoding Method specified in Request", "encoding-type", value
        )
    return True
