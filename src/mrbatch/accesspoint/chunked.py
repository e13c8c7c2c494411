"""Decoding `aws-chunked` request bodies, with and without trailers, signed or not.

Clients stream uploads of unknown hash this way: the body is a series of
`<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` chunks ending with a zero-size chunk,
optionally followed by trailing headers (`x-amz-checksum-crc32:...`) and, when signed, an
`x-amz-trailer-signature`. The modes, named by `x-amz-content-sha256`:

- STREAMING-AWS4-HMAC-SHA256-PAYLOAD: each chunk signed, chained from the seed signature;
- STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same plus a signed trailer;
- STREAMING-UNSIGNED-PAYLOAD-TRAILER: plain chunks plus trailer (what botocore sends by
  default over HTTPS, integrity carried by the trailing checksum).

The decoder is incremental (`feed` pieces as they arrive), so large uploads stream to disk.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from mrbatch.accesspoint.number import parse_hex
from mrbatch.accesspoint.s3errors import S3Error, bad_request
from mrbatch.accesspoint.sigv4 import (
    CredentialScope,
    chunk_string_to_sign,
    sign,
    trailer_string_to_sign,
)

__all__ = ["AwsChunkedDecoder", "ChunkSigner"]

_MAX_LINE = 4096
_MAX_CHUNK = 5 * 1024**3  # no chunk can be larger than the largest object S3 takes
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


@dataclass
class ChunkSigner:
    """Checks the chain of chunk signatures: each signs its data and the previous signature,
    starting from the request's own (seed) signature."""

    key: bytes
    timestamp: str
    scope: CredentialScope
    previous: str

    def check_chunk(self, data_sha256: str, claimed: str) -> None:
        """Raise SignatureDoesNotMatch unless `claimed` signs this chunk; then advance."""
        sts = chunk_string_to_sign(self.timestamp, self.scope, self.previous, data_sha256)
        self._check(sign(self.key, sts), claimed, "chunk")

    def check_trailer(self, trailer_block: bytes, claimed: str) -> None:
        """Raise SignatureDoesNotMatch unless `claimed` signs the trailing headers."""
        digest = hashlib.sha256(trailer_block).hexdigest()
        sts = trailer_string_to_sign(self.timestamp, self.scope, self.previous, digest)
        self._check(sign(self.key, sts), claimed, "trailer")

    def _check(self, expected: str, claimed: str, what: str) -> None:
        if not hmac.compare_digest(expected, claimed):
            raise S3Error(
                "SignatureDoesNotMatch",
                f"The {what} signature we calculated does not match the one you provided.",
                403,
            )
        self.previous = claimed


@dataclass
class AwsChunkedDecoder:
    """Incremental decoder: `feed` returns the payload bytes decoded so far; `finish` checks
    that the body was complete and returns the trailing headers (names lower case).

    With a `signer`, every chunk must carry a valid `chunk-signature` (and the trailer an
    `x-amz-trailer-signature`); without one, chunk extensions are ignored.
    Raises S3Error (400 IncompleteBody / InvalidRequest, 403 SignatureDoesNotMatch).
    """

    signer: ChunkSigner | None = None
    trailers: dict[str, str] = field(default_factory=dict, init=False)
    _buffer: bytearray = field(default_factory=bytearray, init=False)
    _state: str = field(default="header", init=False)
    _remaining: int = field(default=0, init=False)
    _chunk_signature: str = field(default="", init=False)
    _chunk_hash: hashlib._Hash = field(default_factory=hashlib.sha256, init=False)
    _trailer_block: bytearray = field(default_factory=bytearray, init=False)

    def feed(self, data: bytes) -> bytes:
        """Consume `data`; return the decoded payload bytes it completed."""
        self._buffer += data
        out = bytearray()
        while self._step(out):
            pass
        return bytes(out)

    def finish(self) -> dict[str, str]:
        """Declare the end of the body; return the trailers. Raises when incomplete."""
        if self._state != "done" or self._buffer.strip():
            raise bad_request("IncompleteBody", "The aws-chunked body ended before its last chunk")
        return dict(self.trailers)

    def _step(self, out: bytearray) -> bool:
        """Advance one state if the buffer allows; False when more input is needed."""
        if self._state == "data":
            return self._take_data(out)
        if self._state == "done":
            return False
        line = self._take_line()
        if line is None:
            return False
        if self._state == "header":
            self._start_chunk(line)
        elif self._state == "data-end":
            self._end_chunk(line)
        else:
            self._trailer_line(line)
        return True

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end > _MAX_LINE or (end < 0 and len(self._buffer) > _MAX_LINE):
            raise bad_request("InvalidRequest", "aws-chunked line too long")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _start_chunk(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        try:
            # int(x, 16) would take a sign, spaces, underscores and 0x: a negative size
            # would swallow the rest of the body as data.
            self._remaining = parse_hex(size_text.decode("latin-1"), high=_MAX_CHUNK)
        except ValueError:
            raise bad_request(
                "InvalidRequest", f"bad aws-chunked size line {line[:80]!r}"
            ) from None
        name, _, value = extension.partition(b"=")
        self._chunk_signature = (
            value.decode("ascii", "replace") if name == b"chunk-signature" else ""
        )
        if self.signer is not None and not self._chunk_signature:
            raise bad_request("InvalidRequest", "a signed aws-chunked body needs chunk-signature")
        self._chunk_hash = hashlib.sha256()
        if self._remaining == 0:
            self._verify_chunk()
            self._state = "trailer"
        else:
            self._state = "data"

    def _take_data(self, out: bytearray) -> bool:
        if not self._buffer:
            return False
        piece = bytes(self._buffer[: self._remaining])
        del self._buffer[: len(piece)]
        self._chunk_hash.update(piece)
        out += piece
        self._remaining -= len(piece)
        if self._remaining == 0:
            self._state = "data-end"
        return True

    def _end_chunk(self, line: bytes) -> None:
        if line:
            raise bad_request("IncompleteBody", "aws-chunked data longer than its declared size")
        self._verify_chunk()
        self._state = "header"

    def _verify_chunk(self) -> None:
        if self.signer is not None:
            self.signer.check_chunk(self._chunk_hash.hexdigest(), self._chunk_signature)

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if (
                self.signer is not None
                and self._trailer_block
                and _TRAILER_SIGNATURE not in self.trailers
            ):
                raise bad_request(
                    "InvalidRequest", "the signed trailer has no x-amz-trailer-signature"
                )
            self._state = "done"
            return
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if not sep:
            raise bad_request("InvalidRequest", f"bad trailing header {line[:80]!r}")
        name, value = name.strip().lower(), value.strip()
        if name == _TRAILER_SIGNATURE:
            if self.signer is not None:
                self.signer.check_trailer(bytes(self._trailer_block), value)
        else:
            self._trailer_block += f"{name}:{value}\n".encode()
        self.trailers[name] = value
