"""Server-side copies: CopyObject (`PUT` with `x-amz-copy-source`) and UploadPartCopy.

The source is read through the access point (from the first available region that has
it, as GET), so a copy works whichever region holds the source; the copy is then a new
object put through the access point, in the active region. `MetadataDirective: COPY`
(the default) keeps the source's user metadata and standard headers, `REPLACE` takes the
request's. Copying an object onto itself without changing anything is refused, as S3
refuses it (400 InvalidRequest).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, cast
from urllib.parse import unquote

from mrbatch.accesspoint.conditions import check_copy_source
from mrbatch.accesspoint.keys import decode_key
from mrbatch.accesspoint.number import clamp_decimal
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.responses import S3_XMLNS, iso8601
from mrbatch.accesspoint.s3errors import S3Error, invalid_argument, invalid_request, no_such_bucket
from mrbatch.ports import ObjectInfo

__all__ = ["CopySource", "copy_result_xml", "open_source", "parse_copy_source", "source_range"]

_RANGE = re.compile(r"^bytes=([0-9]+)-([0-9]+)$")
_SPOOL = 8 * 1024 * 1024


@dataclass(frozen=True)
class CopySource:
    """The object a copy reads: its key (the bucket is always the access point's)."""

    key: str


def parse_copy_source(value: str, bucket_alias: str) -> CopySource:
    """`x-amz-copy-source`: `[/]<bucket>/<key>[?versionId=...]`, URL-encoded. Raises 400
    InvalidArgument, 404 NoSuchBucket."""
    path, _, query = value.partition("?")
    if query and not query.startswith("versionId="):
        raise invalid_argument("Invalid copy source", "x-amz-copy-source", value)
    bucket, _, raw_key = path.lstrip("/").partition("/")
    if not raw_key:
        raise invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            value,
        )
    if unquote(bucket) != bucket_alias:
        raise no_such_bucket(unquote(bucket))
    return CopySource(decode_key(raw_key))


def open_source(
    access_point: AccessPoint, source: CopySource, headers: Mapping[str, str]
) -> tuple[ObjectInfo, BinaryIO]:
    """The source's info and a seekable stream of it (the caller closes it), after the
    `x-amz-copy-source-if-*` conditions. Raises NoSuchKey (via ObjectNotFoundError), 412."""
    _, info, stream = access_point.get(source.key)
    try:
        check_copy_source(headers, info)
        if stream.seekable():
            return info, stream
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
        with stream:
            while piece := stream.read(1024 * 1024):
                spool.write(piece)
        spool.seek(0)
        return info, cast(BinaryIO, spool)
    except BaseException:
        stream.close()
        raise


def check_not_self_copy(source: CopySource, dest_key: str, headers: Mapping[str, str]) -> None:
    """S3 refuses to copy an object onto itself unless the copy changes its metadata."""
    if source.key == dest_key and headers.get("x-amz-metadata-directive", "COPY") != "REPLACE":
        raise invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )


def metadata_directive(headers: Mapping[str, str]) -> bool:
    """True for REPLACE, False for COPY (the default). Raises 400 InvalidArgument."""
    value = headers.get("x-amz-metadata-directive", "COPY")
    if value not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", value)
    return value == "REPLACE"


def source_range(value: str | None, size: int) -> tuple[int, int]:
    """(start, length) of `x-amz-copy-source-range: bytes=first-last` (the whole object
    without one). Raises 400 InvalidRange/InvalidArgument as S3 does."""
    if value is None:
        return 0, size
    match = _RANGE.match(value.strip())
    if match is None:
        raise invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            value,
        )
    first, last = (clamp_decimal(g, high=2**63 - 1) for g in match.groups())
    if last < first or last >= size:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            416 if first >= size else 400,
            {"RangeRequested": value, "ActualObjectSize": str(size)},
        )
    return first, last - first + 1


def copy_result_xml(root: str, etag: str, last_modified: float) -> bytes:
    """`<CopyObjectResult>` or `<CopyPartResult>`."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3_XMLNS}">'
        f"<LastModified>{iso8601(last_modified)}</LastModified>"
        f"<ETag>&quot;{etag}&quot;</ETag></{root}>"
    ).encode()
