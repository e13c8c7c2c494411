"""What the gateway tells about an object beyond its body: the checksum headers of GET and
HEAD with `x-amz-checksum-mode: ENABLED`, the part a `partNumber` request asks for, and
GetObjectAttributes (`GET /<bucket>/<key>?attributes`).

All of it is read from the object's stored headers: its `x-amz-checksum-*` and, for an
object completed from a multipart upload, its part layout (`layout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape

from mrbatch.accesspoint.checksums import ALGORITHMS
from mrbatch.accesspoint.layout import PartLayout, layout_of, visible_etag
from mrbatch.accesspoint.multipart import check_part_number
from mrbatch.accesspoint.responses import object_attributes_xml
from mrbatch.accesspoint.s3errors import S3Error, invalid_argument
from mrbatch.ports import CHECKSUM_HEADER_PREFIX, ObjectInfo

__all__ = [
    "ATTRIBUTES",
    "attributes_xml",
    "checksum_response_headers",
    "part_checksum_headers",
    "part_span",
]

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
_TYPE = "x-amz-checksum-type"


def checksum_response_headers(info: ObjectInfo) -> dict[str, str]:
    """The stored checksum and its type, as GET/HEAD return them when asked to."""
    found = {
        name: value
        for name, value in info.headers.items()
        if name.startswith(CHECKSUM_HEADER_PREFIX)
        and name[len(CHECKSUM_HEADER_PREFIX) :] in ALGORITHMS
    }
    if found:
        found[_TYPE] = info.headers.get(_TYPE, "FULL_OBJECT")
    return found


def part_span(info: ObjectInfo, text: str) -> tuple[int, int, int]:
    """(first byte, length, part count) of the part a `partNumber` parameter names. An
    object put in one piece is one part (count 0: it is no multipart object). Raises 400
    InvalidArgument for a bad number and 400 InvalidPart past the last part, as S3."""
    number = check_part_number(text)
    layout = layout_of(info.headers)
    sizes = layout.sizes if layout is not None else (info.size,)
    if number > len(sizes):
        raise S3Error(
            "InvalidPart",
            "The requested partnumber is not satisfiable",
            400,
            {"PartNumberRequested": str(number), "ActualPartCount": str(len(sizes))},
        )
    if layout is None:
        return 0, info.size, 0
    start, length = layout.span(number)
    return start, length, len(sizes)


def part_checksum_headers(info: ObjectInfo, number: int) -> dict[str, str]:
    """The checksum of part `number` of a multipart object (and the object's checksum
    type), as GET/HEAD with `partNumber` and checksum mode return it; empty when the parts'
    checksums are not kept."""
    layout = layout_of(info.headers)
    whole = checksum_response_headers(info)
    algorithm = _algorithm(whole)
    if layout is None or not layout.checksums or algorithm is None:
        return {}
    return {
        f"{CHECKSUM_HEADER_PREFIX}{algorithm}": layout.checksums[number - 1],
        _TYPE: whole[_TYPE],
    }


def attributes_xml(info: ObjectInfo, headers: Mapping[str, str]) -> bytes:
    """The GetObjectAttributes document for the attributes `x-amz-object-attributes` names
    (paging parts with `x-amz-max-parts` / `x-amz-part-number-marker`). Raises 400
    InvalidArgument for a missing or unknown attribute."""
    wanted = {name.strip() for name in headers.get("x-amz-object-attributes", "").split(",")}
    wanted.discard("")
    unknown = wanted - set(ATTRIBUTES)
    if not wanted or unknown:
        raise invalid_argument(
            "Invalid attribute name specified", "x-amz-object-attributes", ",".join(sorted(unknown))
        )
    layout = layout_of(info.headers)
    fields = []
    if "ETag" in wanted:
        fields.append(_element("ETag", visible_etag(info)))
    checksum = checksum_response_headers(info)
    if "Checksum" in wanted and checksum:
        fields.append("<Checksum>" + "".join(_checksum_elements(checksum)) + "</Checksum>")
    if "ObjectParts" in wanted and layout is not None:
        fields.append(_parts_xml(layout, _algorithm(checksum), headers))
    if "StorageClass" in wanted:
        fields.append(_element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        fields.append(_element("ObjectSize", str(info.size)))
    return object_attributes_xml(fields)


def _checksum_elements(checksum: Mapping[str, str]) -> list[str]:
    elements = [
        _element(f"Checksum{name[len(CHECKSUM_HEADER_PREFIX) :].upper()}", value)
        for name, value in checksum.items()
        if name != _TYPE
    ]
    return [*elements, _element("ChecksumType", checksum[_TYPE])]


def _algorithm(checksum: Mapping[str, str]) -> str | None:
    """The algorithm of the object's checksum (that of its parts too), if it has one."""
    return next((name[len(CHECKSUM_HEADER_PREFIX) :] for name in checksum if name != _TYPE), None)


def _parts_xml(layout: PartLayout, algorithm: str | None, headers: Mapping[str, str]) -> str:
    marker = _header_int(headers, "x-amz-part-number-marker", 0)
    max_parts = min(_header_int(headers, "x-amz-max-parts", 1000), 1000)
    numbers = range(marker + 1, len(layout.sizes) + 1)
    page = numbers[:max_parts]
    truncated = len(numbers) > len(page)
    parts = []
    for number in page:
        part = _element("PartNumber", str(number)) + _element("Size", str(layout.sizes[number - 1]))
        if layout.checksums and algorithm is not None:
            part += _element(f"Checksum{algorithm.upper()}", layout.checksums[number - 1])
        parts.append(f"<Part>{part}</Part>")
    body = [
        _element("PartsCount", str(len(layout.sizes))),
        _element("PartNumberMarker", str(marker)),
        _element("MaxParts", str(max_parts)),
        _element("IsTruncated", "true" if truncated else "false"),
    ]
    if truncated and page:
        body.append(_element("NextPartNumberMarker", str(page[-1])))
    return "<ObjectParts>" + "".join(body + parts) + "</ObjectParts>"


def _header_int(headers: Mapping[str, str], name: str, default: int) -> int:
    text = headers.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit():
        raise invalid_argument(f"{name} must be a non-negative integer", name, text)
    return int(text)


def _element(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"
