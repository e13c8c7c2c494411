"""The wire format of S3's multipart upload API at the access point.

- CreateMultipartUpload    POST   /<bucket>/<key>?uploads
- UploadPart               PUT    /<bucket>/<key>?partNumber=N&uploadId=U  (plain or aws-chunked)
- CompleteMultipartUpload  POST   /<bucket>/<key>?uploadId=U   (XML list of parts)
- AbortMultipartUpload     DELETE /<bucket>/<key>?uploadId=U
- ListParts                GET    /<bucket>/<key>?uploadId=U

The staging and the checks live in `MultipartStaging`; completion puts the object through
the `AccessPoint`, so it lands in the region that is active when the upload completes.
- UploadPartCopy           PUT    /<bucket>/<key>?partNumber=N&uploadId=U  (x-amz-copy-source)

- ListMultipartUploads      GET    /<bucket>?uploads

Checksums: an upload created with `x-amz-checksum-algorithm` keeps every part's checksum;
Complete checks the part checksums its XML lists (InvalidPart) and the whole object's
(`x-amz-checksum-<algorithm>`, BadDigest), COMPOSITE or FULL_OBJECT (`checksums`), and
stores it with the object, with the part layout (`layout`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import partial
from typing import BinaryIO
from urllib.parse import quote
from xml.etree import ElementTree

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mrbatch.accesspoint import checksums, copying
from mrbatch.accesspoint.body import receive_body, receive_into
from mrbatch.accesspoint.checksums import BodyDigests
from mrbatch.accesspoint.conditions import put_conditions
from mrbatch.accesspoint.layout import PartLayout
from mrbatch.accesspoint.multipart import (
    MAX_PART_NUMBER,
    MultipartStaging,
    StagedPart,
    Upload,
    check_part_number,
    multipart_etag,
)
from mrbatch.accesspoint.number import INT32_MAX, parse_decimal
from mrbatch.accesspoint.regions import AccessPoint
from mrbatch.accesspoint.responses import (
    complete_multipart_xml,
    initiate_multipart_xml,
    list_parts_xml,
    list_uploads_xml,
    metadata_from_headers,
    stored_headers_from_request,
)
from mrbatch.accesspoint.s3errors import (
    S3Error,
    bad_request,
    invalid_argument,
    invalid_part,
    invalid_request,
    malformed_xml,
    no_such_upload,
)
from mrbatch.accesspoint.sigv4 import SignedRequest, Verified
from mrbatch.errors import ObjectNotFoundError
from mrbatch.ports import CHECKSUM_HEADER_PREFIX, MULTIPART_HEADER, ObjectInfo

__all__ = ["MultipartApi", "parse_part_checksums", "parse_part_list"]

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


def parse_part_checksums(document: bytes) -> dict[int, dict[str, str]]:
    """The checksums each `<Part>` of a (well-formed: see `parse_part_list`)
    `<CompleteMultipartUpload>` lists, by part number then algorithm (`sha256`)."""
    found: dict[int, dict[str, str]] = {}
    for part in ElementTree.fromstring(document):
        fields = {_local(child.tag): (child.text or "").strip() for child in part}
        listed = {
            name[len("Checksum") :].lower(): value
            for name, value in fields.items()
            if name.startswith("Checksum")
            and name[len("Checksum") :].lower() in checksums.ALGORITHMS
        }
        if listed:
            number = parse_decimal(fields.get("PartNumber", ""), low=1, high=MAX_PART_NUMBER)
            found.setdefault(number, {}).update(listed)
    return found


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
        algorithm, kind = _checksum_choice(headers)
        upload = await run_in_threadpool(
            partial(
                staging.create,
                key,
                metadata,
                stored,
                checksum_algorithm=algorithm,
                checksum_type=kind,
            )
        )
        body = initiate_multipart_xml(self.bucket_alias, key, upload.upload_id)
        response_headers = {}
        if algorithm is not None and kind is not None:
            response_headers["x-amz-checksum-algorithm"] = algorithm.upper()
            response_headers["x-amz-checksum-type"] = kind
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
        upload = await run_in_threadpool(_upload_of, staging, upload_id, key)
        headers = dict(signed.headers)
        kept = upload.checksum_algorithm
        with staging.part_sink(upload_id) as (sink, temp):
            digests = await receive_into(
                request, headers, verified, sink, also=(kept,) if kept else ()
            )
        etag = digests.md5.hexdigest()
        checksum = digests.computed()[kept] if kept else None
        await run_in_threadpool(staging.commit_part, upload_id, number, temp, etag, checksum)
        echoed = _echoed_checksums(headers, digests)
        if kept:
            echoed[f"{CHECKSUM_HEADER_PREFIX}{kept}"] = digests.computed()[kept]
        return Response(headers={"etag": f'"{etag}"', **echoed})

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
            document = body.read()
        finally:
            body.close()
        requested = parse_part_list(document)

        try:
            upload = await run_in_threadpool(_upload_of, staging, upload_id, key)
        except S3Error as err:
            if err.code != "NoSuchUpload":
                raise
            done = await run_in_threadpool(staging.completed, upload_id, requested)
            if done.key != key:
                raise
            return self._completion_response(request, key, done.etag, done.receipt)

        _, chosen = await run_in_threadpool(staging.select, upload_id, requested)
        claimed = dict(signed.headers)
        object_checksum = _object_checksum(upload, chosen, parse_part_checksums(document), claimed)
        layout = PartLayout.of_parts(
            multipart_etag([part.etag for part in chosen]),
            [part.size for part in chosen],
            [part.checksum for part in chosen],
        )
        encoded = layout.encode()
        stored = {**upload.headers, **object_checksum}
        if encoded is not None:
            stored[MULTIPART_HEADER] = encoded
        create_only, if_match = await run_in_threadpool(
            put_conditions, claimed, key, partial(self._current, key)
        )

        def put(key: str, data: BinaryIO, metadata: Mapping[str, str]) -> tuple[str, ObjectInfo]:
            return self.access_point.put(
                key,
                data,
                metadata=metadata,
                headers=stored,
                if_none_match=create_only,
                if_match=if_match,
            )

        def receipt(result: tuple[str, ObjectInfo]) -> dict[str, str]:
            return {**_receipt(result), **object_checksum}

        _, (region, info), etag = await run_in_threadpool(
            staging.complete, upload_id, requested, put, receipt
        )
        return self._completion_response(request, key, etag, receipt((region, info)))

    def _current(self, key: str) -> ObjectInfo | None:
        """The object GET would serve, None when there is none (for conditional writes)."""
        try:
            return self.access_point.head(key)[1]
        except ObjectNotFoundError:
            return None

    def list_uploads(self, params: Mapping[str, str], owner: str) -> Response:
        """ListMultipartUploads: the uploads in progress (prefix, key-marker, max-uploads)."""
        if self.staging is None:
            raise _not_implemented("GET", "?uploads (no staging directory)")
        prefix = params.get("prefix", "")
        marker = params.get("key-marker", "")
        max_uploads = _bounded_int(params, "max-uploads", 1000, 0, 1000)
        found = [
            upload
            for upload in self.staging.uploads()
            if upload.key.startswith(prefix) and upload.key.encode() > marker.encode()
        ]
        body = list_uploads_xml(
            bucket=self.bucket_alias,
            owner=owner,
            prefix=prefix,
            marker=marker,
            max_uploads=max_uploads,
            uploads=[(u.key, u.upload_id, u.initiated) for u in found[:max_uploads]],
            truncated=len(found) > max_uploads,
        )
        return Response(body, media_type=_XML)

    def _completion_response(
        self, request: Request, key: str, etag: str, receipt: Mapping[str, str]
    ) -> Response:
        location = f"{str(request.base_url).rstrip('/')}/{self.bucket_alias}/{quote(key)}"
        checksum = {k: v for k, v in receipt.items() if k.startswith(CHECKSUM_HEADER_PREFIX)}
        return Response(
            complete_multipart_xml(location, self.bucket_alias, key, etag, checksum),
            media_type=_XML,
            headers={k: v for k, v in receipt.items() if k not in checksum},
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


def _checksum_choice(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The checksum algorithm and type a CreateMultipartUpload asks for. CRC64NVME is
    FULL_OBJECT only, the SHAs COMPOSITE only (as S3 answers); InvalidRequest otherwise."""
    name = headers.get("x-amz-checksum-algorithm")
    kind = headers.get("x-amz-checksum-type", "").upper() or None
    if name is None:
        if kind is not None:
            raise invalid_request("x-amz-checksum-type needs x-amz-checksum-algorithm")
        return None, None
    algorithm = name.lower()
    if algorithm not in checksums.ALGORITHMS:
        raise invalid_request(f"Checksum algorithm {name!r} is not supported")
    kind = kind or ("FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE")
    allowed = {"FULL_OBJECT"} if algorithm == "crc64nvme" else {"COMPOSITE"}
    if algorithm in ("crc32", "crc32c"):
        allowed = {"COMPOSITE", "FULL_OBJECT"}
    if kind not in allowed:
        raise invalid_request(
            f"The {kind} checksum type cannot be used with the {algorithm} checksum algorithm."
        )
    return algorithm, kind


def _object_checksum(
    upload: Upload,
    parts: list[StagedPart],
    listed: Mapping[int, Mapping[str, str]],
    headers: Mapping[str, str],
) -> dict[str, str]:
    """The whole object's checksum headers (`x-amz-checksum-<algorithm>` and `-type`), after
    checking the part checksums the Complete request lists (InvalidPart) and the object
    checksum it claims (BadDigest). Empty for an upload without a checksum algorithm."""
    algorithm, kind = upload.checksum_algorithm, upload.checksum_type
    if algorithm is None or kind is None:
        return {}
    for part in parts:
        claimed = listed.get(part.number, {}).get(algorithm)
        if claimed is not None and claimed != part.checksum:
            raise invalid_part(part.number, part.etag)
    sums = [part.checksum or "" for part in parts]
    if kind == "FULL_OBJECT":
        value = checksums.combine_full_object(
            algorithm, [(s, part.size) for s, part in zip(sums, parts, strict=True)]
        )
    else:
        value = checksums.composite(algorithm, sums)
    claimed_whole = headers.get(f"{CHECKSUM_HEADER_PREFIX}{algorithm}")
    if claimed_whole is not None and claimed_whole not in (value, value.partition("-")[0]):
        raise bad_request(
            "BadDigest",
            f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        )
    return {f"{CHECKSUM_HEADER_PREFIX}{algorithm}": value, "x-amz-checksum-type": kind}


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
