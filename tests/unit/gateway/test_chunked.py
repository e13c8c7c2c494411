"""aws-chunked decoding against AWS's published streaming examples and botocore's encoder."""

from __future__ import annotations

import io

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from mrbatch.accesspoint.chunked import AwsChunkedDecoder, ChunkSigner
from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.s3errors import S3Error
from mrbatch.accesspoint.sigv4 import (
    CredentialScope,
    SignedRequest,
    SigV4Verifier,
    parse_amz_date,
    signing_key,
)

# AWS S3 documentation: "Signature calculation: transferring payload in multiple chunks".
DOC = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
DOC_DATE = "20130524T000000Z"
SCOPE = CredentialScope("20130524", "us-east-1", "s3")
PAYLOAD = b"a" * 66560
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
# ... and "with trailing headers" (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGS = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_SIG = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def _signed_body(sigs: tuple[str, str, str], trailer: bytes = b"") -> bytes:
    return (
        f"10000;chunk-signature={sigs[0]}\r\n".encode()
        + PAYLOAD[:65536]
        + b"\r\n"
        + f"400;chunk-signature={sigs[1]}\r\n".encode()
        + PAYLOAD[65536:]
        + b"\r\n"
        + f"0;chunk-signature={sigs[2]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


def _signer(seed: str) -> ChunkSigner:
    return ChunkSigner(signing_key(DOC.secret_access_key, SCOPE), DOC_DATE, SCOPE, seed)


def _decode(decoder: AwsChunkedDecoder, body: bytes, piece: int) -> tuple[bytes, dict[str, str]]:
    out = b"".join(decoder.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    return out, decoder.finish()


def test_documented_seed_request_verifies() -> None:
    signed = ";".join(
        [
            "content-encoding",
            "content-length",
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-decoded-content-length",
            "x-amz-storage-class",
        ]
    )
    scope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
    request = SignedRequest(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        (
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", DOC_DATE),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            (
                "authorization",
                f"AWS4-HMAC-SHA256 Credential={scope},SignedHeaders={signed},Signature={SEED}",
            ),
        ),
    )
    verified = SigV4Verifier([DOC], clock=lambda: parse_amz_date(DOC_DATE)).verify(request)
    assert verified.signature == SEED
    assert verified.payload_hash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


@pytest.mark.parametrize("piece", [1, 7, 4096, 100_000])
def test_documented_signed_chunks_decode_in_any_piece_size(piece: int) -> None:
    out, trailers = _decode(AwsChunkedDecoder(_signer(SEED)), _signed_body(CHUNK_SIGS), piece)
    assert out == PAYLOAD
    assert trailers == {}


def test_documented_signed_chunks_with_signed_trailer_decode() -> None:
    trailer = (
        f"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n".encode()
    )
    body = _signed_body(TRAILER_CHUNK_SIGS, trailer)
    out, trailers = _decode(AwsChunkedDecoder(_signer(TRAILER_SEED)), body, 777)
    assert out == PAYLOAD
    assert trailers["x-amz-checksum-crc32c"] == "sOO8/Q=="


def test_changed_trailer_value_breaks_the_trailer_signature() -> None:
    trailer = (
        f"x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n".encode()
    )
    with pytest.raises(S3Error) as caught:
        _decode(
            AwsChunkedDecoder(_signer(TRAILER_SEED)),
            _signed_body(TRAILER_CHUNK_SIGS, trailer),
            4096,
        )
    assert caught.value.code == "SignatureDoesNotMatch"


def test_changed_chunk_data_is_refused() -> None:
    body = bytearray(_signed_body(CHUNK_SIGS))
    body[66_000] = ord("b")
    with pytest.raises(S3Error) as caught:
        _decode(AwsChunkedDecoder(_signer(SEED)), bytes(body), 4096)
    assert (caught.value.code, caught.value.status) == ("SignatureDoesNotMatch", 403)


def test_signed_mode_refuses_chunks_without_signature() -> None:
    with pytest.raises(S3Error) as caught:
        AwsChunkedDecoder(_signer(SEED)).feed(b"3\r\nabc\r\n")
    assert caught.value.code == "InvalidRequest"


def test_botocore_unsigned_chunks_with_crc32_trailer_decode() -> None:
    data = bytes(range(256)) * 1000
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=8192,
    )
    body = wrapper.read()
    out, trailers = _decode(AwsChunkedDecoder(), body, 1000)
    assert out == data
    assert list(trailers) == ["x-amz-checksum-crc32"]


def test_truncated_body_is_incomplete() -> None:
    body = _signed_body(CHUNK_SIGS)[:-40]
    decoder = AwsChunkedDecoder(_signer(SEED))
    decoder.feed(body)
    with pytest.raises(S3Error) as caught:
        decoder.finish()
    assert (caught.value.code, caught.value.status) == ("IncompleteBody", 400)


def test_data_longer_than_declared_size_is_refused() -> None:
    with pytest.raises(S3Error) as caught:
        AwsChunkedDecoder().feed(b"2\r\nabc\r\n0\r\n\r\n")
    assert caught.value.code == "IncompleteBody"


def test_bad_size_line_is_refused() -> None:
    with pytest.raises(S3Error) as caught:
        AwsChunkedDecoder().feed(b"zz\r\n")
    assert caught.value.code == "InvalidRequest"


@pytest.mark.parametrize("size", [b"-5", b" 5", b"0x5", b"5_0", b"+5", b"140000001"])
def test_size_line_int_would_read_is_refused(size: bytes) -> None:
    # int(size, 16) reads every one of these (the last is past 5 GiB, the largest object).
    with pytest.raises(S3Error) as caught:
        AwsChunkedDecoder().feed(size + b"\r\nhello\r\n0\r\n\r\n")
    assert (caught.value.code, caught.value.status) == ("InvalidRequest", 400)


def test_line_longer_than_4096_bytes_is_refused_even_when_it_arrives_whole() -> None:
    with pytest.raises(S3Error) as caught:
        AwsChunkedDecoder().feed(b"0" * 5000 + b"5\r\nhello\r\n0\r\n\r\n")
    assert (caught.value.code, caught.value.message) == (
        "InvalidRequest",
        "aws-chunked line too long",
    )
