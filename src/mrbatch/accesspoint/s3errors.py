"""S3's error vocabulary, raised inside the gateway and rendered as S3 error XML.

Clients (boto3, the aws CLI) branch on the `Code` element, so the gateway speaks the codes S3
uses rather than inventing its own. Every error here is a `MrBatchError`: the message is for
a person, the code for a program.
"""

from __future__ import annotations

from collections.abc import Mapping

from mrbatch.errors import MrBatchError

__all__ = [
    "S3Error",
    "access_denied",
    "bad_request",
    "entity_too_small",
    "invalid_argument",
    "invalid_part",
    "invalid_part_order",
    "invalid_request",
    "malformed_xml",
    "no_such_bucket",
    "no_such_key",
    "no_such_upload",
    "service_unavailable",
]


class S3Error(MrBatchError):
    """A request the gateway refuses, with S3's error code and HTTP status.

    `details` become extra elements of the error XML (e.g. `Key`, `StringToSign`), as S3 adds.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        details: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, str] = dict(details or {})


def access_denied(message: str = "Access Denied") -> S3Error:
    """403 AccessDenied (also S3's answer to an expired presigned URL)."""
    return S3Error("AccessDenied", message, 403)


def bad_request(code: str, message: str) -> S3Error:
    """A 400 with the given S3 code (InvalidRequest, XAmzContentSHA256Mismatch, ...)."""
    return S3Error(code, message, 400)


def invalid_argument(message: str, name: str = "", value: str = "") -> S3Error:
    """400 InvalidArgument; `name`/`value` say which argument, as S3's XML does."""
    details = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return S3Error("InvalidArgument", message, 400, details)


def invalid_request(message: str) -> S3Error:
    """400 InvalidRequest: the request is missing something S3 requires."""
    return S3Error("InvalidRequest", message, 400)


def no_such_key(key: str) -> S3Error:
    """404 NoSuchKey for `key`."""
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, {"Key": key})


def no_such_bucket(bucket: str) -> S3Error:
    """404 NoSuchBucket: the access point shows exactly one bucket name."""
    return S3Error(
        "NoSuchBucket", "The specified bucket does not exist", 404, {"BucketName": bucket}
    )


def service_unavailable(message: str) -> S3Error:
    """503 ServiceUnavailable: no region can serve the request now (clients retry it)."""
    return S3Error("ServiceUnavailable", message, 503)


def no_such_upload(upload_id: str) -> S3Error:
    """404 NoSuchUpload: unknown, aborted or already completed multipart upload."""
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        404,
        {"UploadId": upload_id},
    )


def invalid_part(part_number: int, etag: str) -> S3Error:
    """400 InvalidPart: a listed part was not uploaded, or its ETag is not the part's."""
    return S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        400,
        {"PartNumber": str(part_number), "ETag": etag},
    )


def invalid_part_order() -> S3Error:
    """400 InvalidPartOrder: the part list is not in ascending part-number order."""
    return S3Error(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
        400,
    )


def entity_too_small(part_number: int, size: int, minimum: int) -> S3Error:
    """400 EntityTooSmall: a part other than the last is below the minimum part size."""
    return S3Error(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
        400,
        {"ProposedSize": str(size), "MinSizeAllowed": str(minimum), "PartNumber": str(part_number)},
    )


def malformed_xml(reason: str) -> S3Error:
    """400 MalformedXML, with what was wrong (S3 says only that it did not validate)."""
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published "
        f"schema: {reason}",
        400,
    )
