"""S3's REST wire format: the XML documents and headers the gateway sends back.

Only what boto3 and the aws CLI parse: error documents, ListAllMyBuckets, multipart, and
the object headers (quoted ETag, Last-Modified, x-amz-meta-*). Listings: `listing`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from xml.sax.saxutils import escape

from mrbatch.accesspoint.layout import visible_etag
from mrbatch.ports import STORED_HEADERS, ObjectInfo

__all__ = [
    "complete_multipart_xml",
    "error_xml",
    "initiate_multipart_xml",
    "iso8601",
    "list_buckets_xml",
    "list_parts_xml",
    "list_uploads_xml",
    "metadata_from_headers",
    "object_attributes_xml",
    "object_headers",
    "stored_headers_from_request",
]

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _element(name: str, value: str | int | bool) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def iso8601(moment: float) -> str:
    """The timestamp form S3 uses in XML: `2024-01-02T03:04:05.000Z`."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error_xml(code: str, message: str, request_id: str, details: Mapping[str, str]) -> bytes:
    """S3's `<Error>` document."""
    parts = [_element("Code", code), _element("Message", message)]
    parts += [_element(name, value) for name, value in details.items()]
    parts.append(_element("RequestId", request_id))
    return (_DECLARATION + "<Error>" + "".join(parts) + "</Error>").encode()


def metadata_from_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The user metadata a request carries (`x-amz-meta-<name>: value`), by name: the
    reverse of what `object_headers` writes. A value that is not ASCII is kept RFC 2047
    encoded (`=?UTF-8?B?...?=`), which is how S3 returns such a value."""
    prefix = "x-amz-meta-"
    return {
        name[len(prefix) :]: _mail_safe(value) for name, value in headers if name.startswith(prefix)
    }


def _mail_safe(value: str) -> str:
    if value.isascii():
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def stored_headers_from_request(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The standard headers a PUT (or CreateMultipartUpload, or a copy that replaces)
    asks the object to keep: Content-Type, Cache-Control, ... (`STORED_HEADERS`). The
    `aws-chunked` content coding describes the request's framing, not the object: S3
    drops it (and the header, when nothing else is left)."""
    kept = {name: value for name, value in headers if name in STORED_HEADERS}
    encoding = kept.get("content-encoding", "")
    codings = [c.strip() for c in encoding.split(",")]
    if "aws-chunked" in (c.lower() for c in codings):
        del kept["content-encoding"]
        rest = [c for c in codings if c.lower() != "aws-chunked"]
        if rest:
            kept["content-encoding"] = ", ".join(rest)
    return kept


def object_headers(region: str, info: ObjectInfo) -> dict[str, str]:
    """The headers that describe an object in GET/HEAD responses: its stored headers
    (Content-Type `binary/octet-stream` when none was given, as S3), ETag, metadata."""
    headers = {
        "content-type": "binary/octet-stream",
        **{name: value for name, value in info.headers.items() if name in STORED_HEADERS},
        "etag": f'"{visible_etag(info)}"',
        "last-modified": formatdate(info.last_modified, usegmt=True),
        "x-amz-version-id": info.version_id,
        "accept-ranges": "bytes",
        "x-mrbatch-region": region,
    }
    if info.replication_status:
        headers["x-amz-replication-status"] = info.replication_status
    for name, value in info.metadata.items():
        headers[f"x-amz-meta-{name}"] = value
    return headers


def list_buckets_xml(buckets: Iterable[tuple[str, float]], owner: str) -> bytes:
    """The `<ListAllMyBucketsResult>` document for (name, creation time) pairs."""
    entries = "".join(
        "<Bucket>"
        + _element("Name", name)
        + _element("CreationDate", iso8601(created))
        + "</Bucket>"
        for name, created in buckets
    )
    owner_xml = "<Owner>" + _element("ID", owner) + _element("DisplayName", owner) + "</Owner>"
    return (
        f'{_DECLARATION}<ListAllMyBucketsResult xmlns="{S3_XMLNS}">{owner_xml}'
        f"<Buckets>{entries}</Buckets></ListAllMyBucketsResult>"
    ).encode()


def _document(root: str, parts: Iterable[str]) -> bytes:
    return f'{_DECLARATION}<{root} xmlns="{S3_XMLNS}">{"".join(parts)}</{root}>'.encode()


def initiate_multipart_xml(bucket: str, key: str, upload_id: str) -> bytes:
    """The `<InitiateMultipartUploadResult>` of CreateMultipartUpload."""
    return _document(
        "InitiateMultipartUploadResult",
        [_element("Bucket", bucket), _element("Key", key), _element("UploadId", upload_id)],
    )


def complete_multipart_xml(
    location: str, bucket: str, key: str, etag: str, checksum: Mapping[str, str] | None = None
) -> bytes:
    """The `<CompleteMultipartUploadResult>`; `etag` unquoted (`<md5>-<parts>`); the
    object's checksum from its `x-amz-checksum-<algorithm>` / `-type` headers."""
    elements = [
        _element(
            "ChecksumType" if name == "x-amz-checksum-type" else f"Checksum{name[15:].upper()}",
            value,
        )
        for name, value in sorted(
            (checksum or {}).items(), key=lambda item: item[0].endswith("type")
        )
    ]
    return _document(
        "CompleteMultipartUploadResult",
        [
            _element("Location", location),
            _element("Bucket", bucket),
            _element("Key", key),
            _element("ETag", f'"{etag}"'),
            *elements,
        ],
    )


def list_parts_xml(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    owner: str,
    marker: int,
    max_parts: int,
    parts: Sequence[tuple[int, float, str, int]],
    next_marker: int | None,
) -> bytes:
    """The `<ListPartsResult>` page for (number, last modified, etag, size) parts;
    `next_marker` is None on the last page."""
    who = _element("ID", owner) + _element("DisplayName", owner)
    body = [
        _element("Bucket", bucket),
        _element("Key", key),
        _element("UploadId", upload_id),
        _element("PartNumberMarker", marker),
        _element("MaxParts", max_parts),
        _element("IsTruncated", next_marker is not None),
    ]
    if next_marker is not None:
        body.append(_element("NextPartNumberMarker", next_marker))
    body += [f"<Initiator>{who}</Initiator>", f"<Owner>{who}</Owner>"]
    body.append(_element("StorageClass", "STANDARD"))
    body += [
        "<Part>"
        + _element("PartNumber", number)
        + _element("LastModified", iso8601(modified))
        + _element("ETag", f'"{etag}"')
        + _element("Size", size)
        + "</Part>"
        for number, modified, etag, size in parts
    ]
    return _document("ListPartsResult", body)


def list_uploads_xml(
    *,
    bucket: str,
    owner: str,
    prefix: str,
    marker: str,
    max_uploads: int,
    uploads: Sequence[tuple[str, str, float]],
    truncated: bool,
) -> bytes:
    """The `<ListMultipartUploadsResult>` for (key, upload id, initiated) uploads."""
    who = _element("ID", owner) + _element("DisplayName", owner)
    body = [
        _element("Bucket", bucket),
        _element("KeyMarker", marker),
        _element("UploadIdMarker", ""),
        _element("Prefix", prefix),
        _element("MaxUploads", max_uploads),
        _element("IsTruncated", truncated),
    ]
    if truncated and uploads:
        body += [
            _element("NextKeyMarker", uploads[-1][0]),
            _element("NextUploadIdMarker", uploads[-1][1]),
        ]
    body += [
        "<Upload>"
        + _element("Key", key)
        + _element("UploadId", upload_id)
        + f"<Initiator>{who}</Initiator><Owner>{who}</Owner>"
        + _element("StorageClass", "STANDARD")
        + _element("Initiated", iso8601(initiated))
        + "</Upload>"
        for key, upload_id, initiated in uploads
    ]
    return _document("ListMultipartUploadsResult", body)


def object_attributes_xml(fields: Sequence[str]) -> bytes:
    """The `<GetObjectAttributesResponse>` from its already rendered child elements."""
    return _document("GetObjectAttributesResponse", fields)
