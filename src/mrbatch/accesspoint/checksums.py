"""Integrity checks on uploaded bodies: Content-MD5 and the flexible checksums
(`x-amz-checksum-crc32`, `-sha1`, `-sha256`) that recent SDKs send as a header or a trailer.

A mismatch is S3's 400 BadDigest / InvalidDigest. CRC32C and CRC64NVME need a native library
(awscrt) and are not checked; they are accepted as-is (documented limitation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping

from mrbatch.accesspoint.s3errors import S3Error, bad_request

__all__ = ["BodyDigests"]

_PREFIX = "x-amz-checksum-"
_SUPPORTED = ("crc32", "sha1", "sha256")


class BodyDigests:
    """Running digests of a body: MD5 (for Content-MD5), SHA-256 (for the signed payload
    hash), and the flexible checksums the request announced."""

    def __init__(self, algorithms: set[str]) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(usedforsecurity=False) if "sha1" in algorithms else None
        self._crc32: int | None = 0 if "crc32" in algorithms else None
        self.size = 0

    @staticmethod
    def announced(headers: Mapping[str, str]) -> set[str]:
        """The checksum algorithms named by `x-amz-checksum-*` headers or `x-amz-trailer`."""
        names = {name[len(_PREFIX) :] for name in headers if name.startswith(_PREFIX)}
        trailer = headers.get("x-amz-trailer", "")
        names |= {
            t.strip().lower()[len(_PREFIX) :]
            for t in trailer.split(",")
            if t.strip().lower().startswith(_PREFIX)
        }
        return names & set(_SUPPORTED)

    def update(self, data: bytes) -> None:
        """Add the next piece of the body."""
        self.md5.update(data)
        self.sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(data, self._crc32)
        self.size += len(data)

    def check_content_md5(self, value: str | None) -> None:
        """Raise InvalidDigest / BadDigest unless the Content-MD5 header (if any) matches."""
        if value is None:
            return
        try:
            claimed = base64.b64decode(value, validate=True)
        except binascii.Error:
            claimed = b""
        if len(claimed) != 16:  # not an MD5 at all: S3 says InvalidDigest, not BadDigest
            raise bad_request("InvalidDigest", "The Content-MD5 you specified was invalid.")
        if claimed != self.md5.digest():
            raise bad_request(
                "BadDigest", "The Content-MD5 you specified did not match what we received."
            )

    def check_checksums(self, values: Mapping[str, str]) -> None:
        """Raise BadDigest unless every supported `x-amz-checksum-*` value matches."""
        actual = self.computed()
        for name, value in values.items():
            algorithm = name[len(_PREFIX) :] if name.startswith(_PREFIX) else ""
            if algorithm in actual and value != actual[algorithm]:
                raise S3Error(
                    "BadDigest",
                    f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                    400,
                )

    def computed(self) -> dict[str, str]:
        """The supported checksums of the body so far, base64 as S3 writes them, by
        algorithm name (`sha256` always; `sha1`, `crc32` when announced)."""
        found = {"sha256": base64.b64encode(self.sha256.digest()).decode()}
        if self._sha1 is not None:
            found["sha1"] = base64.b64encode(self._sha1.digest()).decode()
        if self._crc32 is not None:
            found["crc32"] = base64.b64encode(self._crc32.to_bytes(4, "big")).decode()
        return found
