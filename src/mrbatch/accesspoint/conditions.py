"""Conditional requests (RFC 9110 section 13, as S3 applies them).

GET/HEAD: If-Match and If-Unmodified-Since fail with 412 PreconditionFailed; If-None-Match
and If-Modified-Since answer 304 Not Modified. As S3 documents: when If-Match holds, a
failing If-Unmodified-Since is ignored; when If-None-Match is present it decides and
If-Modified-Since is ignored. A date that does not parse is ignored, as S3 does.

CopyObject / UploadPartCopy: the same four conditions on the source, named
`x-amz-copy-source-if-*`; S3 answers 412 for every one of them, 304 included.

PUT: `If-None-Match` and `If-Match`, `*` or ETags, S3's conditional writes.

DELETE (DeleteObject and each object of DeleteObjects): `If-Match` (ETag or `*`),
`x-amz-if-match-last-modified-time` and `x-amz-if-match-size`; a key that is missing is
deleted already (204), as S3 answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from mrbatch.accesspoint.layout import visible_etag
from mrbatch.accesspoint.s3errors import S3Error, no_such_key
from mrbatch.ports import ObjectInfo

__all__ = [
    "NotModifiedError",
    "check_copy_source",
    "check_delete",
    "check_read",
    "etag_matches",
    "put_conditions",
]


class NotModifiedError(S3Error):
    """304 Not Modified: the client's copy is current (rendered without a body)."""

    def __init__(self, info: ObjectInfo) -> None:
        super().__init__("NotModified", "Not Modified", 304)
        self.info = info


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names `etag` (unquoted) or is `*`."""
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == etag:
            return True
    return False


def check_read(headers: Mapping[str, str], info: ObjectInfo) -> None:
    """Raise 412 or NotModifiedError (304) unless the GET/HEAD conditions let it through."""
    failed = _failed_condition(headers, info, prefix="")
    if failed == "If-None-Match" or failed == "If-Modified-Since":
        raise NotModifiedError(info)
    if failed is not None:
        raise _precondition_failed(failed)


def check_copy_source(headers: Mapping[str, str], info: ObjectInfo) -> None:
    """Raise 412 unless the `x-amz-copy-source-if-*` conditions hold for the source."""
    failed = _failed_condition(headers, info, prefix="x-amz-copy-source-")
    if failed is not None:
        raise _precondition_failed(f"x-amz-copy-source-{failed}")


def put_conditions(
    headers: Mapping[str, str], key: str, current: Callable[[], ObjectInfo | None]
) -> tuple[bool, str | None]:
    """(create only, store ETag the object must still have) of a PUT with S3's conditional
    writes, from `If-None-Match` and `If-Match`, each `*` or ETags (as clients see them:
    a multipart object's is its multipart ETag). `current` heads the object (None when it
    is missing); it is called only for conditions other than `If-None-Match: *`.

    If-Match: the object must exist (404 NoSuchKey otherwise) with a listed ETag (412).
    If-None-Match: `*` creates only; ETags refuse an object that has one of them (412).
    Whatever was checked here is then held atomically by the writing store: the write
    replaces only the object that was looked at (or creates only, when there was none).
    """
    none_match = headers.get("if-none-match")
    match = headers.get("if-match")
    if match is None and (none_match is None or none_match.strip() == "*"):
        return none_match is not None, None
    info = current()
    if match is not None:
        if info is None:
            raise no_such_key(key)
        if not etag_matches(match, visible_etag(info)):
            raise _precondition_failed("If-Match")
    if none_match is not None and info is not None and etag_matches(none_match, visible_etag(info)):
        raise _precondition_failed("If-None-Match")
    return info is None, (None if info is None else info.etag)


def check_delete(
    info: ObjectInfo, *, etag: str | None, last_modified: float | None, size: int | None
) -> None:
    """Raise 412 unless the object has the ETag (or `*`), last-modified time (to the
    second, as HTTP dates carry it) and size a conditional delete names."""
    if etag is not None and not etag_matches(etag, visible_etag(info)):
        raise _precondition_failed("If-Match")
    if last_modified is not None and int(last_modified) != int(info.last_modified):
        raise _precondition_failed("x-amz-if-match-last-modified-time")
    if size is not None and size != info.size:
        raise _precondition_failed("x-amz-if-match-size")


def _failed_condition(headers: Mapping[str, str], info: ObjectInfo, *, prefix: str) -> str | None:
    """The first condition that does not hold (named as the header), or None."""
    etag = visible_etag(info)
    if_match = headers.get(f"{prefix}if-match")
    if if_match is not None and not etag_matches(if_match, etag):
        return "If-Match"
    modified = int(info.last_modified)
    unmodified_since = _date(headers.get(f"{prefix}if-unmodified-since"))
    if if_match is None and unmodified_since is not None and modified > unmodified_since:
        return "If-Unmodified-Since"
    if_none_match = headers.get(f"{prefix}if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return "If-None-Match"
    modified_since = _date(headers.get(f"{prefix}if-modified-since"))
    if if_none_match is None and modified_since is not None and modified <= modified_since:
        return "If-Modified-Since"
    return None


def _date(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


def _precondition_failed(condition: str) -> S3Error:
    return S3Error(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        {"Condition": condition},
    )
