"""IAM authorization for the stack's JSON APIs, as API Gateway's `AWS_IAM` authorizer gives
it: a request is served only when it is SigV4-signed with the stack's credentials over its
exact body, and its body is bounded. Both sides live here, so they cannot drift apart.

Client:
- `IamAuth`: an httpx `Auth` that signs every request (host, content type, `x-amz-*`
  headers and the body's SHA-256), as Step Functions signs `AuthType: IAM_ROLE` calls.

Server:
- `read_body(request, limit)`: the body, refused with 413 past `limit` bytes, by its
  Content-Length before anything is read, else while it streams, so an oversized body is
  never held in memory.
- `verify_signed(verifier, request, body)`: the signature must hold and the payload hash it
  covers must be this body's SHA-256 (`UNSIGNED-PAYLOAD` and any other declaration are
  refused), so a captured request cannot be replayed with another body.

Both raise `S3Error`, the gateway's error (status, code, message), which each API renders
in its own JSON. Example:

    client = httpx.Client(base_url=url, auth=IamAuth(credentials))  # the caller
    body = await read_body(request, limit=256 * 1024)                 # a Starlette endpoint
    verified = verify_signed(SigV4Verifier([credentials], service=EXECUTE_API), request, body)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator

import httpx
from starlette.requests import Request

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.s3api import signed_request
from mrbatch.accesspoint.s3errors import S3Error, access_denied
from mrbatch.accesspoint.sigv4 import (
    ALGORITHM,
    CredentialScope,
    SigV4Verifier,
    Verified,
    amz_date,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    sign,
    signing_key,
    string_to_sign,
)

__all__ = ["EXECUTE_API", "IamAuth", "read_body", "verify_signed"]

EXECUTE_API = "execute-api"  # the SigV4 service name of API Gateway APIs


class IamAuth(httpx.Auth):
    """Signs each request with SigV4 for `service` in `region` with `credentials`.

    >>> client = httpx.Client(auth=IamAuth(Credentials("AKID", "secret")))
    """

    requires_request_body = True  # the body's hash is signed

    def __init__(
        self,
        credentials: Credentials,
        *,
        region: str = "us-east-1",
        service: str = EXECUTE_API,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._region, self._service, self._clock = region, service, clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = amz_date(self._clock())
        scope = CredentialScope(timestamp[:8], self._region, self._service)
        request.headers["x-amz-date"] = timestamp
        headers = [(name.decode("latin-1").lower(), value.decode("latin-1"))
                   for name, value in request.headers.raw]  # fmt: skip
        signed = sorted(
            {name for name, _ in headers if name in ("host", "content-type")}
            | {name for name, _ in headers if name.startswith("x-amz-")}
        )
        creq = canonical_request(
            request.method,
            canonical_uri(request.url.raw_path.partition(b"?")[0].decode("ascii")),
            canonical_query(request.url.query.decode("ascii")),
            canonical_headers(headers, signed),
            signed,
            hashlib.sha256(request.content).hexdigest(),
        )
        key = signing_key(self._credentials.secret_access_key, scope)
        signature = sign(key, string_to_sign(timestamp, scope, creq))
        request.headers["authorization"] = (
            f"{ALGORITHM} Credential={self._credentials.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        yield request


def _too_large(limit: int) -> S3Error:
    return S3Error("RequestEntityTooLarge", f"the request body is over {limit} bytes", 413)


async def read_body(request: Request, *, limit: int) -> bytes:
    """The request's body, at most `limit` bytes; S3Error 413 beyond (400 for a
    Content-Length that is not a number)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit() or len(declared) > 19:
            raise S3Error("InvalidRequest", "Content-Length must be a number of bytes", 400)
        if int(declared) > limit:
            raise _too_large(limit)
    received = bytearray()
    async for piece in request.stream():
        received += piece
        if len(received) > limit:
            raise _too_large(limit)
    return bytes(received)


def verify_signed(verifier: SigV4Verifier, request: Request, body: bytes) -> Verified:
    """Who signed `request` (with `body`). Raises S3Error: 403 when unsigned, signed with
    unknown credentials, for another service, or over another payload; 400 for malformed
    authentication data (see `SigV4Verifier.verify`)."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    verified = verifier.verify(signed_request(request), body_sha256=body_sha256)
    if verified.payload_hash != body_sha256:
        raise access_denied("the signature must cover the request body's SHA-256")
    return verified
