"""The wire format of S3's multipart upload API at the access point.

- CreateMultipartUpload    POST   /<bucket>/<key>?uploads
- UploadPart               PUT    /<bucket>/<key>?partNumber=N&uploadId=U  (plain or aws-chunked)
- CompleteMultipartUpload  POST   /<bucket>/<key>?uploadId=U   (XML list of parts)
- AbortMultipartUpload     DELETE /<bucket>/<key>?uploadId=U
- ListParts                GET    /<bucket>/<key>?uploadId=U

The staging and the checks live in `MultipartStaging`; completion puts the object through
the `AccessPoint`, so it lands in the region that is active when the upload completes.
- UploadPartCopy           PUT    /<bucket>/<key>?partNumber=N&uploadId=U  (x-amz-copy-source)

ListMultipartUploads answers 501 NotImplemented. Per-part checksums in
the Complete request's XML are not re-checked (each part's was checked on upload).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import BinaryIO
from urllib.parse import quote
from xml.etree import ElementTree

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mrbatch.accesspoint import copying
from mrbatch.accesspoint.body import receive_body, receive_into
from mrbatch.accesspoint.checksums import BodyDigests
from mrbatch.accesspoint.multipart import (
    MAX_PART_NUMBER,
    MultipartStaging,
    StagedPart,
    Upload,
    check_part_number,
)
from mrbatch.accesspoint.number import INT32_MAX, parse_decimal
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.responses import (
    complete_multipart_xml,
    initiate_multipart_xml,
    list_parts_xml,
    metadata_from_headers,
    stored_headers_from_request,
)
from mrbatch.accesspoint.s3errors import (
    S3Error,
    invalid_argument,
    malformed_xml,
    no_such_upload,
)
from mrbatch.accesspoint.sigv4 import SignedRequest, Verified
from mrbatch.ports import ObjectInfo

__all__ = ["MultipartApi", "parse_part_list"]

_XML = "application/xml"
_MAX_COMPLETE_BODY = 4 * 1024 * 1024  # 10,000 parts of ~150 bytes each fit easily
_MAX_EMPTY_BODY = 64 * 1024
_COPY_CHUNK = 1024 * 1024


def parse_part_list(document: bytes) -> list[tuple[int, str]]:
    """(part number, ETag) pairs of a `<CompleteMultipartUpload>` document, in document
    order. Raises 400 MalformedXML (DTDs are refused outright: no entity expansion).

    >>> parse_part_list(b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
    ...                 b"<ETag>\\"abc\\"</ETag></Part></CompleteMultipartUpload>")
    [(1, '"abc"')]
    """
    if b"<!DOCTYPE" in document.upper() or b"<!ENTITY" in document.upper():
        raise malformed_xml("document type declarations are not allowed")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise malformed_xml(str(exc)) from None
    if _local(root.tag) != "CompleteMultipartUpload":
        raise malformed_xml(f"the root element is {_local(root.tag)}")
    pairs = []
    for part in root:
        if _local(part.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in part}
        etag = fields.get("ETag", "")
        try:
            # Stripped above: an xsd:int may carry white space around its digits.
            number = parse_decimal(fields.get("PartNumber", ""), low=1, high=MAX_PART_NUMBER)
        except ValueError:
            number = 0
        if not number or not etag:
            raise malformed_xml("each Part needs a PartNumber (1-10000) and an ETag")
        pairs.append((number, etag))
    return pairs


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class MultipartApi:
    """Serves the multipart requests of one bucket alias; without a staging directory
    (`staging` None) every multipart request answers 501 NotImplemented."""

    def __init__(
        self, access_point: AccessPoint, staging: MultipartStaging | None, bucket_alias: str
    ) -> None:
        self.access_point = access_point
        self.staging = staging
        self.bucket_alias = bucket_alias

    async def handle(
        self,
        request: Request,
        signed: SignedRequest,
        verified: Verified,
        key: str,
        params: Mapping[str, str],
    ) -> Response:
        """Dispatch one request that carries `uploads` or `uploadId`."""
        staging = self.staging
        method = request.method
        if staging is None:
            raise _not_implemented(method, "multipart upload (no staging directory)")
        if method == "POST" and "uploads" in params:
            return await self._create(request, signed, verified, staging, key)
        upload_id = params.get("uploadId")
        if upload_id is None:
            raise _not_implemented(method, "?uploads")
        if method == "PUT" and "partNumber" in params:
            number = check_part_number(params["partNumber"])
            if "x-amz-copy-source" in request.headers:
                return await self._upload_part_copy(request, signed, verified, staging, number)
            return await self._upload_part(request, signed, verified, staging, number, key)
        if method == "POST":  # checks the upload itself: a completed one may be retried
            return await self._complete(request, signed, verified, staging, key)
        await run_in_threadpool(_upload_of, staging, upload_id, key)
        if method == "DELETE":
            await run_in_threadpool(staging.abort, upload_id)
            return Response(status_code=204)
        if method == "GET":
            owner = verified.credentials.access_key_id
            return await run_in_threadpool(self._list_parts, staging, key, params, owner)
        raise _not_implemented(method, "a multipart upload")

    async def _create(
        self,
        request: Request,
        signed: SignedRequest,
        verified: Verified,
        staging: MultipartStaging,
        key: str,
    ) -> Response:
        headers = dict(signed.headers)
        (await receive_body(request, headers, verified, max_bytes=_MAX_EMPTY_BODY)).close()
        metadata = metadata_from_headers(signed.headers)
        stored = stored_headers_from_request(signed.headers)
        upload = await run_in_threadpool(staging.create, key, metadata, stored)
        body = initiate_multipart_xml(self.bucket_alias, key, upload.upload_id)
        response_headers = {}
        if "x-amz-checksum-algorithm" in headers:
            response_headers["x-amz-checksum-algorithm"] = headers["x-amz-checksum-algorithm"]
        return Response(body, media_type=_XML, headers=response_headers)

    async def _upload_part(
        self,
        request: Request,
        signed: SignedRequest,
        verified: Verified,
        staging: MultipartStaging,
        number: int,
        key: str,
    ) -> Response:
        upload_id = signed.query()["uploadId"]
        await run_in_threadpool(_upload_of, staging, upload_id, key)
        headers = dict(signed.headers)
        with staging.part_sink(upload_id) as (sink, temp):
            digests = await receive_into(request, headers, verified, sink)
        etag = digests.md5.hexdigest()
        await run_in_threadpool(staging.commit_part, upload_id, number, temp, etag)
        return Response(headers={"etag": f'"{etag}"', **_echoed_checksums(headers, digests)})

    async def _upload_part_copy(
        self,
        request: Request,
        signed: SignedRequest,
        verified: Verified,
        staging: MultipartStaging,
        number: int,
    ) -> Response:
        upload_id = signed.query()["uploadId"]
        headers = dict(signed.headers)
        source = copying.parse_copy_source(headers["x-amz-copy-source"], self.bucket_alias)
        (await receive_body(request, headers, verified, max_bytes=0)).close()
        part = await run_in_threadpool(self._copy_part, staging, upload_id, number, source, headers)
        return Response(
            copying.copy_result_xml("CopyPartResult", part.etag, part.last_modified),
            media_type=_XML,
        )

    def _copy_part(
        self,
        staging: MultipartStaging,
        upload_id: str,
        number: int,
        source: copying.CopySource,
        headers: Mapping[str, str],
    ) -> StagedPart:
        """Stage bytes of the source object (all, or x-amz-copy-source-range) as a part."""
        info, stream = copying.open_source(self.access_point, source, headers)
        with stream:
            start, length = copying.source_range(headers.get("x-amz-copy-source-range"), info.size)
            digest = hashlib.md5(usedforsecurity=False)
            with staging.part_sink(upload_id) as (sink, temp):
                stream.seek(start)
                remaining = length
                while remaining > 0 and (piece := stream.read(min(_COPY_CHUNK, remaining))):
                    digest.update(piece)
                    sink.write(piece)
                    remaining -= len(piece)
        return staging.commit_part(upload_id, number, temp, digest.hexdigest())

    async def _complete(
        self,
        request: Request,
        signed: SignedRequest,
        verified: Verified,
        staging: MultipartStaging,
        key: str,
    ) -> Response:
        upload_id = signed.query()["uploadId"]
        # x-amz-checksum-* on Complete describe the whole object, not this XML document.
        headers = {k: v for k, v in signed.headers if not k.startswith("x-amz-checksum-")}
        body = await receive_body(request, headers, verified, max_bytes=_MAX_COMPLETE_BODY)
        try:
            requested = parse_part_list(body.read())
        finally:
            body.close()

        try:
            upload = await run_in_threadpool(_upload_of, staging, upload_id, key)
        except S3Error as err:
            if err.code != "NoSuchUpload":
                raise
            done = await run_in_threadpool(staging.completed, upload_id, requested)
            if done.key != key:
                raise
            return self._completion_response(request, key, done.etag, done.receipt)

        def put(key: str, data: BinaryIO, metadata: Mapping[str, str]) -> tuple[str, ObjectInfo]:
            return self.access_point.put(key, data, metadata=metadata, headers=upload.headers)

        _, (region, info), etag = await run_in_threadpool(
            staging.complete, upload_id, requested, put, _receipt
        )
        return self._completion_response(request, key, etag, _receipt((region, info)))

    def _completion_response(
        self, request: Request, key: str, etag: str, receipt: Mapping[str, str]
    ) -> Response:
        location = f"{str(request.base_url).rstrip('/')}/{self.bucket_alias}/{quote(key)}"
        return Response(
            complete_multipart_xml(location, self.bucket_alias, key, etag),
            media_type=_XML,
            headers=dict(receipt),
        )

    def _list_parts(
        self, staging: MultipartStaging, key: str, params: Mapping[str, str], owner: str
    ) -> Response:
        upload_id = params["uploadId"]
        marker = _bounded_int(params, "part-number-marker", 0, 0, MAX_PART_NUMBER)
        max_parts = _bounded_int(params, "max-parts", 1000, 1, 1000)
        later = [part for part in staging.parts(upload_id) if part.number > marker]
        page = later[:max_parts]
        truncated = len(later) > len(page)
        body = list_parts_xml(
            bucket=self.bucket_alias,
            key=key,
            upload_id=upload_id,
            owner=owner,
            marker=marker,
            max_parts=max_parts,
            parts=[(p.number, p.last_modified, p.etag, p.size) for p in page],
            next_marker=page[-1].number if truncated and page else None,
        )
        return Response(body, media_type=_XML)


def _receipt(result: tuple[str, ObjectInfo]) -> dict[str, str]:
    """The response headers of a completion, kept to answer a retry the same way."""
    region, info = result
    return {"x-amz-version-id": info.version_id, "x-mrbatch-region": region}


def _upload_of(staging: MultipartStaging, upload_id: str, key: str) -> Upload:
    """The upload, which must be for `key` (S3 answers NoSuchUpload otherwise)."""
    upload = staging.upload(upload_id)
    if upload.key != key:
        raise no_such_upload(upload_id)
    return upload


def _echoed_checksums(headers: Mapping[str, str], digests: BodyDigests) -> dict[str, str]:
    """The flexible checksums the client announced for a part, as S3 returns them."""
    computed = digests.computed()
    return {
        f"x-amz-checksum-{name}": computed[name]
        for name in BodyDigests.announced(headers)
        if name in computed
    }


def _bounded_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A paging parameter, clamped to [low, high]. Like S3, any non-negative value that fits a
    32-bit integer is accepted (then clamped); anything else is 400 InvalidArgument."""
    text = params.get(name)
    if text is None:
        return default
    try:
        value = parse_decimal(text, high=INT32_MAX)
    except ValueError:
        raise invalid_argument(
            f"Provided {name} not an integer or within integer range", name, text
        ) from None
    return min(max(value, low), high)


def _not_implemented(method: str, target: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        f"{method} on {target} is not implemented by the mrbatch access point",
        501,
    )
