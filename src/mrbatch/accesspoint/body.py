"""Receiving request bodies: decode aws-chunked framing, stream the payload into a sink,
and check it against what the request declared (payload SHA-256, Content-MD5, flexible
checksums, decoded length).

Shared by PutObject, UploadPart and CompleteMultipartUpload, so every body is checked the
same way and none is held whole in memory (bodies go to a spooled or real file).
"""

from __future__ import annotations

import re
import tempfile
from typing import BinaryIO, cast

from starlette.requests import Request

from mrbatch.accesspoint.checksums import BodyDigests
from mrbatch.accesspoint.chunked import AwsChunkedDecoder, ChunkSigner
from mrbatch.accesspoint.s3errors import bad_request
from mrbatch.accesspoint.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Verified,
)

__all__ = ["MAX_OBJECT_BYTES", "receive_body", "receive_checked", "receive_into"]

MAX_OBJECT_BYTES = 5 * 1024**3  # S3's limit for a single PUT (and for one part)
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


async def receive_into(
    request: Request,
    headers: dict[str, str],
    verified: Verified,
    sink: BinaryIO,
    *,
    max_bytes: int = MAX_OBJECT_BYTES,
    also: tuple[str, ...] = (),
) -> BodyDigests:
    """Write the decoded body to `sink` as it arrives and return its digests (MD5, size,
    the checksums announced and those named in `also`). Raises S3Error: 400
    EntityTooLarge past `max_bytes`, IncompleteBody, XAmzContentSHA256Mismatch,
    BadDigest/InvalidDigest; 403 for a bad chunk signature."""
    mode = verified.payload_hash
    decoder = _decoder_for(mode, verified)
    digests = BodyDigests(BodyDigests.announced(headers) | set(also))
    async for piece in request.stream():
        data = decoder.feed(piece) if decoder is not None else piece
        digests.update(data)
        if digests.size > max_bytes:
            raise bad_request(
                "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
        sink.write(data)
    trailers = decoder.finish() if decoder is not None else {}
    _check_body(mode, headers, trailers, digests, chunked=decoder is not None)
    return digests


async def receive_body(
    request: Request,
    headers: dict[str, str],
    verified: Verified,
    *,
    max_bytes: int = MAX_OBJECT_BYTES,
) -> BinaryIO:
    """The checked body in a spooled temporary file, rewound (the caller closes it)."""
    body, _ = await receive_checked(request, headers, verified, max_bytes=max_bytes)
    return body


async def receive_checked(
    request: Request,
    headers: dict[str, str],
    verified: Verified,
    *,
    max_bytes: int = MAX_OBJECT_BYTES,
) -> tuple[BinaryIO, BodyDigests]:
    """The checked body, rewound (the caller closes it), and its digests: what a PUT keeps
    of the checksums it was sent."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        digests = await receive_into(
            request, headers, verified, cast(BinaryIO, spool), max_bytes=max_bytes
        )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return cast(BinaryIO, spool), digests


def _decoder_for(mode: str, verified: Verified) -> AwsChunkedDecoder | None:
    if mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
        signer = ChunkSigner(
            verified.signing_key(), verified.timestamp, verified.scope, verified.signature
        )
        return AwsChunkedDecoder(signer)
    if mode == STREAMING_UNSIGNED_TRAILER:
        return AwsChunkedDecoder()
    if mode == UNSIGNED_PAYLOAD or _HEX64.match(mode):
        return None
    raise bad_request("InvalidArgument", f"x-amz-content-sha256 {mode!r} is not supported")


def _check_body(
    mode: str,
    headers: dict[str, str],
    trailers: dict[str, str],
    digests: BodyDigests,
    *,
    chunked: bool,
) -> None:
    if _HEX64.match(mode) and digests.sha256.hexdigest() != mode:
        raise bad_request(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    declared = headers.get("x-amz-decoded-content-length")
    if chunked and declared is not None and declared != str(digests.size):
        raise bad_request(
            "IncompleteBody", "The body is not as long as x-amz-decoded-content-length says"
        )
    digests.check_content_md5(headers.get("content-md5"))
    checksums = {k: v for k, v in headers.items() if k.startswith("x-amz-checksum-")}
    digests.check_checksums({**checksums, **trailers})
