"""Integrity checks on uploaded bodies: Content-MD5 and S3's flexible checksums
(`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`) that SDKs send as a
header or an aws-chunked trailer (botocore >= 1.36 sends CRC32 by default, newer SDKs
CRC64NVME).

A mismatch is S3's 400 BadDigest; a Content-MD5 that is not an MD5 is InvalidDigest; two
checksum algorithms on one request are InvalidRequest, as S3 answers. The CRCs other than
CRC32 come from awscrt (the AWS SDKs' own implementation). Multipart objects: `composite`
and `combine_full_object` compute the whole object's checksum from its parts' without
reading the parts again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from awscrt import checksums as crt  # type: ignore[import-untyped]  # no stubs shipped

from mrbatch.accesspoint.s3errors import S3Error, bad_request, invalid_request

__all__ = [
    "ALGORITHMS",
    "CRCS",
    "BodyDigests",
    "checksum_headers",
    "combine_full_object",
    "composite",
    "decode",
]

PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
CRCS = ("crc32", "crc32c", "crc64nvme")  # the only ones with a FULL_OBJECT multipart type
_CRC_WIDTH = {"crc32": 4, "crc32c": 4, "crc64nvme": 8}
_CRC_UPDATE: dict[str, Callable[[bytes, int], int]] = {
    "crc32": zlib.crc32,
    "crc32c": crt.crc32c,
    "crc64nvme": crt.crc64nvme,
}
_CRC_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "crc32": crt.combine_crc32,
    "crc32c": crt.combine_crc32c,
    "crc64nvme": crt.combine_crc64nvme,
}


class _Running(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC with hashlib's update/digest shape (big-endian bytes, as S3 encodes)."""

    def __init__(self, algorithm: str) -> None:
        self._update = _CRC_UPDATE[algorithm]
        self._width = _CRC_WIDTH[algorithm]
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._update(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


def _running(algorithm: str) -> _Running:
    if algorithm in _CRC_UPDATE:
        return _Crc(algorithm)
    return hashlib.new(algorithm, usedforsecurity=False)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def decode(value: str) -> bytes | None:
    """The raw bytes of a base64 checksum value, None when it is not base64."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def checksum_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The `x-amz-checksum-<algorithm>` values among `headers`, by algorithm name."""
    return {
        name[len(PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(PREFIX) and name[len(PREFIX) :] in ALGORITHMS
    }


def composite(algorithm: str, part_checksums: Sequence[str]) -> str:
    """S3's COMPOSITE checksum of a multipart object: the checksum of the parts' raw
    checksums concatenated, then `-<number of parts>`."""
    running = _running(algorithm)
    for value in part_checksums:
        running.update(decode(value) or b"")
    return f"{_b64(running.digest())}-{len(part_checksums)}"


def combine_full_object(algorithm: str, parts: Sequence[tuple[str, int]]) -> str:
    """The FULL_OBJECT CRC of a multipart object from its parts' (checksum, size): the CRC
    of the whole content, computed without reading it again."""
    combine = _CRC_COMBINE[algorithm]
    total = 0
    for value, size in parts:
        total = combine(total, int.from_bytes(decode(value) or b"", "big"), size)
    return _b64(total.to_bytes(_CRC_WIDTH[algorithm], "big"))


class BodyDigests:
    """Running digests of a body: MD5 (for Content-MD5 and the ETag), SHA-256 (for the
    signed payload hash), and the flexible checksums asked for."""

    def __init__(self, algorithms: set[str]) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self._extra = {name: _running(name) for name in sorted(algorithms) if name != "sha256"}
        self.size = 0

    @staticmethod
    def announced(headers: Mapping[str, str]) -> set[str]:
        """The checksum algorithms named by `x-amz-checksum-*` headers or `x-amz-trailer`."""
        names = set(checksum_headers(headers))
        trailer = headers.get("x-amz-trailer", "")
        names |= {
            t.strip().lower()[len(PREFIX) :]
            for t in trailer.split(",")
            if t.strip().lower().startswith(PREFIX)
        }
        return names & set(ALGORITHMS)

    def update(self, data: bytes) -> None:
        """Add the next piece of the body."""
        self.md5.update(data)
        self.sha256.update(data)
        for running in self._extra.values():
            running.update(data)
        self.size += len(data)

    def check_content_md5(self, value: str | None) -> None:
        """Raise InvalidDigest / BadDigest unless the Content-MD5 header (if any) matches."""
        if value is None:
            return
        claimed = decode(value) or b""
        if len(claimed) != 16:  # not an MD5 at all: S3 says InvalidDigest, not BadDigest
            raise bad_request("InvalidDigest", "The Content-MD5 you specified was invalid.")
        if claimed != self.md5.digest():
            raise bad_request(
                "BadDigest", "The Content-MD5 you specified did not match what we received."
            )

    def check_checksums(self, values: Mapping[str, str]) -> None:
        """Raise InvalidRequest for checksums of two algorithms, BadDigest unless the
        `x-amz-checksum-*` value (header or trailer) matches the body."""
        claimed = checksum_headers(values)
        if len(claimed) > 1:
            raise invalid_request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                "allowed."
            )
        actual = self.computed()
        for algorithm, value in claimed.items():
            if value != actual.get(algorithm, value):
                raise S3Error(
                    "BadDigest",
                    f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                    400,
                )

    def computed(self) -> dict[str, str]:
        """The checksums of the body so far, base64 as S3 writes them, by algorithm name
        (`sha256` always, the others when asked for)."""
        found = {"sha256": _b64(self.sha256.digest())}
        found.update({name: _b64(running.digest()) for name, running in self._extra.items()})
        return found
