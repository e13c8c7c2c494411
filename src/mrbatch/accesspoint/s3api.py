"""The S3 REST API of the access point (path-style addressing), over Starlette.

Wire format only: parse the request, authenticate it (SigV4), call the `AccessPoint`, and
render S3's responses and error XML. Supported: ListBuckets, HeadBucket, CreateBucket of
the alias, ListObjects (v1, v2), PutObject (plain, aws-chunked, checksums, conditional),
CopyObject, GetObject / HeadObject (Range, partNumber, conditions, checksum mode),
GetObjectAttributes, DeleteObject and DeleteObjects (conditional). Multipart uploads
(requests with `?uploads` or `?uploadId`) go to `MultipartApi`. Anything else answers 501
NotImplemented in S3's error format; see docs/s3-compatibility.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from email.utils import formatdate, parsedate_to_datetime
from functools import partial
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mrbatch.accesspoint import attributes, copying, deletes, listing
from mrbatch.accesspoint.body import receive_body, receive_checked
from mrbatch.accesspoint.checksums import BodyDigests
from mrbatch.accesspoint.conditions import (
    NotModifiedError,
    check_delete,
    check_read,
    put_conditions,
)
from mrbatch.accesspoint.keys import decode_key
from mrbatch.accesspoint.layout import visible_etag
from mrbatch.accesspoint.multipart import MultipartStaging
from mrbatch.accesspoint.multipartapi import MultipartApi
from mrbatch.accesspoint.number import clamp_decimal
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.responses import (
    error_xml,
    list_buckets_xml,
    metadata_from_headers,
    object_headers,
    stored_headers_from_request,
)
from mrbatch.accesspoint.s3errors import (
    S3Error,
    bad_request,
    invalid_argument,
    invalid_request,
    no_such_bucket,
    no_such_key,
    service_unavailable,
)
from mrbatch.accesspoint.sigv4 import (
    SignedRequest,
    SigV4Verifier,
    Verified,
)
from mrbatch.errors import (
    InvalidKeyError,
    InvalidMetadataError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from mrbatch.ports import CHECKSUM_HEADER_PREFIX, MULTIPART_HEADER, ObjectInfo

__all__ = ["S3Api", "signed_request"]

_READ_CHUNK = 64 * 1024
_XML = "application/xml"
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")  # ASCII digits only (\d is any script's)
_FAR = 2**63 - 1  # a byte position past any object: larger numbers mean the same
_SUBRESOURCES = {
    "acl",
    "tagging",
    "uploads",
    "uploadId",
    "partNumber",
    "versionId",
    "torrent",
    "retention",
    "legal-hold",
    "attributes",
    "select",
    "restore",
    "location",
    "versioning",
    "policy",
    "cors",
    "lifecycle",
    "website",
    "notification",
}


def signed_request(request: Request) -> SignedRequest:
    """The SigV4 view of a Starlette request: the path and query exactly as received."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    try:
        path = raw_path.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_argument("The request path is not valid UTF-8") from None
    return SignedRequest(
        method=request.method,
        raw_path=path,
        raw_query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=tuple((k.decode("latin-1"), _header_text(v)) for k, v in request.headers.raw),
    )


def _header_text(value: bytes) -> str:
    """A header value as the client meant it: SDKs send non-ASCII values (user metadata)
    as UTF-8 and sign the characters, so UTF-8 is read first; any other bytes as latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class S3Api:
    """The S3 endpoint of the access point; `handle` is the Starlette endpoint.

    `bucket_alias` is the one bucket name clients see (like an MRAP alias).
    """

    def __init__(
        self,
        access_point: AccessPoint,
        verifier: SigV4Verifier,
        *,
        bucket_alias: str = "mrbatch",
        created_at: float = 0.0,
        multipart: MultipartStaging | None = None,
    ) -> None:
        self.access_point = access_point
        self.verifier = verifier
        self.bucket_alias = bucket_alias
        self.created_at = created_at
        self.multipart = MultipartApi(access_point, multipart, bucket_alias)

    async def handle(self, request: Request) -> Response:
        """Authenticate and serve one S3 request; every failure becomes S3 error XML."""
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            if request.method == "OPTIONS":
                raise _preflight_refused(request)
            signed = signed_request(request)
            verified = self.verifier.verify(signed)
            response = await self._dispatch(request, signed, verified)
        except NotModifiedError as err:
            response = Response(
                status_code=304,
                headers={
                    "etag": f'"{visible_etag(err.info)}"',
                    "last-modified": formatdate(err.info.last_modified, usegmt=True),
                },
            )
        except S3Error as err:
            response = _error_response(err, request_id, head=request.method == "HEAD")
        except StorageError as exc:
            response = _error_response(_translate(exc), request_id, head=request.method == "HEAD")
        response.headers["x-amz-request-id"] = request_id
        if response.status_code >= 400 and _has_body(request):
            # The body may be unread; close the connection rather than let its bytes be
            # parsed as the next request on this keep-alive connection.
            response.headers["connection"] = "close"
        return response

    async def _dispatch(
        self, request: Request, signed: SignedRequest, verified: Verified
    ) -> Response:
        path = signed.raw_path
        if path == "/":
            if request.method != "GET":
                raise _not_implemented(request.method, "the service")
            owner = verified.credentials.access_key_id
            body = list_buckets_xml([(self.bucket_alias, self.created_at)], owner)
            return Response(body, media_type=_XML)
        bucket_raw, _, key_raw = path[1:].partition("/")
        bucket = decode_key(bucket_raw) if bucket_raw else ""
        if bucket != self.bucket_alias:
            raise no_such_bucket(bucket)
        params = signed.query()
        unsupported = sorted(_SUBRESOURCES & set(params))
        if not key_raw and request.method == "POST" and "delete" in params:
            return await self._delete_objects(request, signed, verified)
        if not key_raw:
            owner = verified.credentials.access_key_id
            return await self._bucket_operation(request.method, params, unsupported, owner)
        key = decode_key(key_raw)
        if "uploads" in params or "uploadId" in params:
            return await self.multipart.handle(request, signed, verified, key, params)
        if request.method == "GET" and unsupported == ["attributes"]:
            return await self._object_attributes(request, key)
        if request.method in ("GET", "HEAD") and unsupported == ["partNumber"]:
            return await self._get_object(request, params, key)
        if unsupported:
            raise _not_implemented(request.method, "this object sub-resource")
        if request.method == "PUT" and "x-amz-copy-source" in request.headers:
            return await self._copy_object(request, signed, verified, key)
        if request.method == "PUT":
            return await self._put_object(request, signed, verified, key)
        if request.method in ("GET", "HEAD"):
            return await self._get_object(request, params, key)
        if request.method == "DELETE":
            target = deletes.DeleteTarget(
                key,
                request.headers.get("if-match"),
                _http_date(request.headers.get("x-amz-if-match-last-modified-time")),
                _size(request.headers.get("x-amz-if-match-size")),
            )
            regions = await run_in_threadpool(self._delete, target)
            return Response(status_code=204, headers={"x-mrbatch-region": ",".join(regions)})
        raise _not_implemented(request.method, "objects")

    async def _bucket_operation(
        self, method: str, params: dict[str, str], unsupported: list[str], owner: str
    ) -> Response:
        if method == "HEAD" and not unsupported:
            return Response(headers={"x-amz-bucket-region": "us-east-1"})
        if method == "PUT" and not unsupported and not params:
            # CreateBucket of the alias: S3 in us-east-1 answers 200 to a CreateBucket of a
            # bucket the caller already owns (BucketAlreadyOwnedByYou elsewhere).
            return Response(headers={"location": f"/{self.bucket_alias}"})
        if method == "GET" and not unsupported:
            body = await run_in_threadpool(self._list_objects, params, owner)
            return Response(body, media_type=_XML)
        if method == "GET" and unsupported == ["uploads"]:
            return await run_in_threadpool(self.multipart.list_uploads, params, owner)
        raise _not_implemented(
            method, "the bucket" + (f" ({', '.join(unsupported)})" if unsupported else "")
        )

    def _list_objects(self, params: dict[str, str], owner: str) -> bytes:
        """ListObjectsV2 with `list-type=2`, ListObjects (v1) otherwise."""
        if params.get("list-type") == "2":
            token = params.get("continuation-token")
            start_after = params.get("start-after", "")
            after = start_after if token is None else listing.decode_token(token)
            query = listing.parse_query(params, after)
            fetch_owner = params.get("fetch-owner", "false").lower() == "true"
            return listing.list_v2_xml(
                self.bucket_alias,
                query,
                listing.walk(self.access_point, query),
                start_after=start_after,
                token=token,
                owner=owner if fetch_owner else None,
            )
        marker = params.get("marker", "")
        query = listing.parse_query(params, marker)
        found = listing.walk(self.access_point, query)
        return listing.list_v1_xml(self.bucket_alias, query, marker, found, owner)

    async def _delete_objects(
        self, request: Request, signed: SignedRequest, verified: Verified
    ) -> Response:
        headers = dict(signed.headers)
        if "content-md5" not in headers and not any(
            name.startswith("x-amz-checksum-") or name == "x-amz-trailer" for name in headers
        ):
            raise invalid_request("Missing required header for this request: Content-MD5")
        body = await receive_body(request, headers, verified, max_bytes=deletes.MAX_DELETE_BODY)
        try:
            wanted = deletes.parse_delete(body.read())
        finally:
            body.close()
        result = await run_in_threadpool(deletes.delete_all, wanted, self._delete)
        return Response(result, media_type=_XML)

    def _delete(self, target: deletes.DeleteTarget) -> list[str]:
        """Delete through the access point, after the target's conditions (if any) hold for
        the object GET would serve; a missing object is deleted already. The check and the
        delete are two steps: a write landing between them is deleted unchecked."""
        if (target.etag, target.last_modified, target.size) != (None, None, None):
            info = self._current(target.key)
            if info is None:
                return []
            check_delete(
                info, etag=target.etag, last_modified=target.last_modified, size=target.size
            )
        return self.access_point.delete(target.key)

    def _current(self, key: str) -> ObjectInfo | None:
        """The object GET would serve, None when there is none."""
        try:
            return self.access_point.head(key)[1]
        except ObjectNotFoundError:
            return None

    # --- PutObject ---------------------------------------------------------------------

    async def _put_object(
        self, request: Request, signed: SignedRequest, verified: Verified, key: str
    ) -> Response:
        headers = dict(signed.headers)
        metadata = metadata_from_headers(signed.headers)
        create_only, if_match = await run_in_threadpool(
            put_conditions, headers, key, partial(self._current, key)
        )
        body, digests = await receive_checked(request, headers, verified)
        checksum = _kept_checksum(headers, digests)
        try:
            region, info = await run_in_threadpool(
                partial(
                    self.access_point.put,
                    key,
                    body,
                    metadata=metadata,
                    headers={**stored_headers_from_request(signed.headers), **checksum},
                    if_none_match=create_only,
                    if_match=if_match,
                )
            )
        finally:
            body.close()
        return Response(
            headers={
                "etag": f'"{info.etag}"',
                "x-amz-version-id": info.version_id,
                "x-mrbatch-region": region,
                **checksum,
            }
        )

    # --- CopyObject --------------------------------------------------------------------

    async def _copy_object(
        self, request: Request, signed: SignedRequest, verified: Verified, key: str
    ) -> Response:
        headers = dict(signed.headers)
        source = copying.parse_copy_source(headers["x-amz-copy-source"], self.bucket_alias)
        replace = copying.metadata_directive(headers)
        copying.check_not_self_copy(source, key, headers)
        (await receive_body(request, headers, verified, max_bytes=0)).close()
        region, info, source_info = await run_in_threadpool(
            self._copy, source, key, headers, signed.headers if replace else None
        )
        return Response(
            copying.copy_result_xml("CopyObjectResult", info.etag, info.last_modified),
            media_type=_XML,
            headers={
                "x-amz-version-id": info.version_id,
                "x-amz-copy-source-version-id": source_info.version_id,
                "x-mrbatch-region": region,
            },
        )

    def _copy(
        self,
        source: copying.CopySource,
        key: str,
        headers: dict[str, str],
        replacement: tuple[tuple[str, str], ...] | None,
    ) -> tuple[str, ObjectInfo, ObjectInfo]:
        source_info, stream = copying.open_source(self.access_point, source, headers)
        with stream:
            region, info = self.access_point.put(
                key,
                stream,
                metadata=(
                    source_info.metadata
                    if replacement is None
                    else metadata_from_headers(replacement)
                ),
                headers=(
                    _single_piece(source_info.headers)
                    if replacement is None
                    else {
                        **stored_headers_from_request(replacement),
                        **_checksum_of(source_info.headers),
                    }
                ),
            )
        return region, info, source_info

    # --- GetObject / HeadObject --------------------------------------------------------

    async def _get_object(self, request: Request, params: dict[str, str], key: str) -> Response:
        if request.method == "HEAD":
            region, info = await run_in_threadpool(self.access_point.head, key)
            check_read(request.headers, info)
            headers = _content_headers(region, info, params)
            start, length, status = _selected_span(request, params, info, headers)
            headers["content-length"] = str(length)
            return Response(status_code=status, headers=headers)
        region, info, stream = await run_in_threadpool(self.access_point.get, key)
        headers = _content_headers(region, info, params)
        try:
            check_read(request.headers, info)
            start, length, status = _selected_span(request, params, info, headers)
        except S3Error:
            stream.close()
            raise
        headers["content-length"] = str(length)
        return StreamingResponse(
            _read_span(stream, start, length), status_code=status, headers=headers
        )

    async def _object_attributes(self, request: Request, key: str) -> Response:
        """GetObjectAttributes; like S3 for an unversioned bucket, without a version id."""
        _, info = await run_in_threadpool(self.access_point.head, key)
        body = attributes.attributes_xml(info, request.headers)
        last_modified = formatdate(info.last_modified, usegmt=True)
        return Response(body, media_type=_XML, headers={"last-modified": last_modified})


# --- helpers -----------------------------------------------------------------------------


def _http_date(value: str | None) -> float | None:
    """An HTTP date header as a timestamp; 400 InvalidArgument when it does not parse."""
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        raise invalid_argument("Invalid date", "x-amz-if-match-last-modified-time", value) from None


def _size(value: str | None) -> int | None:
    """An object size header; 400 InvalidArgument unless it is a non-negative integer."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise invalid_argument("Invalid size", "x-amz-if-match-size", value)
    return int(value)


def _kept_checksum(headers: dict[str, str], digests: BodyDigests) -> dict[str, str]:
    """The checksum a PUT keeps with the object (and echoes): the one the client sent, as
    header or trailer (checked by then), with its type."""
    computed = digests.computed()
    sent = sorted(BodyDigests.announced(headers))
    if not sent:
        return {}
    algorithm = sent[0]
    return {
        f"{CHECKSUM_HEADER_PREFIX}{algorithm}": computed[algorithm],
        "x-amz-checksum-type": "FULL_OBJECT",
    }


def _checksum_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The FULL_OBJECT checksum among an object's stored headers (a copy keeps it: the
    bytes are the same; a composite one describes parts the copy does not have)."""
    if headers.get("x-amz-checksum-type", "FULL_OBJECT") != "FULL_OBJECT":
        return {}
    return {k: v for k, v in headers.items() if k.startswith(CHECKSUM_HEADER_PREFIX)}


def _single_piece(headers: Mapping[str, str]) -> dict[str, str]:
    """An object's stored headers for a copy of it, which is one piece: its standard
    headers and full-object checksum, not its part layout."""
    kept = {
        k: v
        for k, v in headers.items()
        if k != MULTIPART_HEADER and not k.startswith(CHECKSUM_HEADER_PREFIX)
    }
    return {**kept, **_checksum_of(headers)}


def _selected_span(
    request: Request, params: dict[str, str], info: ObjectInfo, headers: dict[str, str]
) -> tuple[int, int, int]:
    """(first byte, length, status) of what a GET/HEAD serves: the whole object, a Range,
    or a part (`partNumber`); adds Content-Range, x-amz-mp-parts-count and, when asked
    for and the whole object is served, its checksum to `headers`."""
    checksum_mode = request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    if "partNumber" in params:
        number = params["partNumber"]
        start, length, count = attributes.part_span(info, number)
        if count:  # a multipart object: S3 answers 206 with the part, even the only one
            headers["x-amz-mp-parts-count"] = str(count)
            headers["content-range"] = f"bytes {start}-{start + length - 1}/{info.size}"
            if checksum_mode:
                headers.update(attributes.part_checksum_headers(info, int(number)))
            return start, length, 206
    else:
        span = _parse_range(request.headers.get("range"), info.size)
        if span is not None:
            start, end = span
            headers["content-range"] = f"bytes {start}-{end}/{info.size}"
            return start, end - start + 1, 206
    if checksum_mode:
        headers.update(attributes.checksum_response_headers(info))
    return 0, info.size, 200


def _content_headers(region: str, info: ObjectInfo, params: dict[str, str]) -> dict[str, str]:
    headers = object_headers(region, info)
    for header in (
        "content-type",
        "content-disposition",
        "content-language",
        "cache-control",
        "expires",
        "content-encoding",
    ):
        if f"response-{header}" in params:
            headers[header] = params[f"response-{header}"]
    return headers


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span of a single `bytes=` range, None for the whole object.

    As S3 does: a Range it cannot parse, or whose last byte comes before its first, is
    ignored (200, whole object; RFC 9110 lets a server ignore Range); a last byte or suffix
    past the end is clamped to the object (206); a first byte at or past the end, or a suffix
    of 0 bytes, is unsatisfiable (416 InvalidRange). Numbers of any length are read, capped
    at `_FAR`, which changes none of these answers.
    """
    if value is None:
        return None
    match = _RANGE.match(value.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = (clamp_decimal(g, high=_FAR) if g else None for g in match.groups())
    if first is not None and last is not None and last < first:
        return None
    if first is None:  # bytes=-N: the last N bytes (N = 0 asks for none)
        suffix = last or 0
        start, end = (size - min(suffix, size) if suffix else size), size - 1
    else:
        start, end = first, size - 1 if last is None else min(last, size - 1)
    if start >= size:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            416,
            {"RangeRequested": value, "ActualObjectSize": str(size)},
        )
    return start, end


def _read_span(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """Yield `length` bytes from `start`, closing the stream at the end (or on abort)."""
    try:
        if start:
            stream.seek(start)
        remaining = length
        while remaining > 0:
            piece = stream.read(min(_READ_CHUNK, remaining))
            if not piece:
                break
            remaining -= len(piece)
            yield piece
    finally:
        stream.close()


def _translate(exc: StorageError) -> S3Error:
    if isinstance(exc, ObjectNotFoundError):
        return no_such_key(exc.key)
    if isinstance(exc, InvalidKeyError):
        return invalid_argument(str(exc), "key")
    if isinstance(exc, InvalidMetadataError):
        return invalid_argument(str(exc), "x-amz-meta-*")
    if isinstance(exc, ObjectExistsError | PreconditionFailedError):
        return S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            {"Condition": "If-None-Match" if isinstance(exc, ObjectExistsError) else "If-Match"},
        )
    return service_unavailable(str(exc))


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return length not in ("", "0") or "transfer-encoding" in request.headers


def _preflight_refused(request: Request) -> S3Error:
    """A CORS preflight, which S3 answers before authentication: 400 without an Origin,
    403 with one (the access point has no CORS configuration)."""
    if "origin" not in request.headers:
        return bad_request("BadRequest", "Insufficient information. Origin request header needed.")
    return S3Error("AccessForbidden", "CORSResponse: This CORS request is not allowed.", 403)


def _not_implemented(method: str, target: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        f"{method} on {target} is not implemented by the mrbatch access point",
        501,
    )


def _error_response(err: S3Error, request_id: str, *, head: bool) -> Response:
    # S3 answers HEAD errors with the status only (a HEAD response has no body).
    if head:
        return Response(status_code=err.status, headers={"x-amz-error-code": err.code})
    body = error_xml(err.code, err.message, request_id, err.details)
    return Response(body, status_code=err.status, media_type=_XML)
