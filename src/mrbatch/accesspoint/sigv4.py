"""AWS Signature Version 4: the canonical request, the string to sign, the signing key, and
the verification of signed requests (Authorization header) and presigned URLs (query string).

Pure functions over the request's wire form (raw path, raw query, headers): no HTTP framework
here, so the algorithm is tested against AWS's published vectors and botocore's signer.
The path is canonicalised as S3 does: percent-decoded once, then each byte outside the
unreserved set re-encoded (S3 does not normalise `.`/`..` segments nor double-encode).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.number import parse_decimal
from mrbatch.accesspoint.s3errors import S3Error, access_denied, bad_request

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "CredentialScope",
    "SigV4Verifier",
    "SignedRequest",
    "Verified",
    "amz_date",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "chunk_string_to_sign",
    "parse_amz_date",
    "sign",
    "signing_key",
    "string_to_sign",
    "trailer_string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # S3's limit for X-Amz-Expires
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


# --- the algorithm -----------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialScope:
    """`<yyyymmdd>/<region>/<service>/aws4_request`: what a signing key is bound to."""

    date: str
    region: str
    service: str

    def __str__(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def amz_date(moment: float) -> str:
    """The ISO 8601 basic form SigV4 uses (`20130524T000000Z`) for a POSIX time."""
    return datetime.fromtimestamp(moment, UTC).strftime(_AMZ_DATE_FORMAT)


def parse_amz_date(text: str) -> float:
    """The POSIX time of an `X-Amz-Date` value. Raises ValueError when malformed."""
    return datetime.strptime(text, _AMZ_DATE_FORMAT).replace(tzinfo=UTC).timestamp()


def _encode(raw: bytes | str, *, keep_slash: bool) -> str:
    # quote() keeps exactly SigV4's unreserved set (A-Z a-z 0-9 - _ . ~) and writes %XX in
    # upper case, as the specification requires.
    return quote(raw, safe="/" if keep_slash else "")


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a path as sent on the wire (S3 rules: decode once, re-encode)."""
    return _encode(unquote_to_bytes(raw_path), keep_slash=True) or "/"


def _query_pairs(raw_query: str) -> list[tuple[bytes, bytes]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query(raw_query: str, *, exclude: str | None = None) -> str:
    """The canonical query string: every name=value encoded, sorted by name then value."""
    encoded = sorted(
        (_encode(name, keep_slash=False), _encode(value, keep_slash=False))
        for name, value in _query_pairs(raw_query)
        if exclude is None or name != exclude.encode()
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(headers: Sequence[tuple[str, str]], signed: Sequence[str]) -> str:
    """`name:value\\n` for each signed header: values trimmed, inner runs of spaces collapsed,
    repeated headers joined with commas in the order received."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    return "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The six-part canonical request that both sides hash."""
    return "\n".join([method, uri, query, headers_block, ";".join(signed_headers), payload_hash])


def string_to_sign(timestamp: str, scope: CredentialScope, creq: str) -> str:
    """What the signing key signs: algorithm, time, scope, and the canonical request's hash."""
    digest = hashlib.sha256(creq.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def chunk_string_to_sign(
    timestamp: str, scope: CredentialScope, previous: str, data_sha256: str
) -> str:
    """The string to sign for one chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body."""
    return f"{ALGORITHM}-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{data_sha256}"


def trailer_string_to_sign(
    timestamp: str, scope: CredentialScope, previous: str, trailer_sha256: str
) -> str:
    """The string to sign for the trailing headers of a signed streaming body."""
    return f"{ALGORITHM}-TRAILER\n{timestamp}\n{scope}\n{previous}\n{trailer_sha256}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, scope: CredentialScope) -> bytes:
    """The derived key: HMAC chain over date, region, service and `aws4_request`."""
    key = _hmac(("AWS4" + secret_access_key).encode(), scope.date)
    for part in (scope.region, scope.service, "aws4_request"):
        key = _hmac(key, part)
    return key


def sign(key: bytes, text: str) -> str:
    """The hex signature of `text` under a derived signing key."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that SigV4 covers, as received on the wire.

    `raw_path` and `raw_query` are still percent-encoded; header names are lower case.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header `name` (lower case), or None."""
        return next((value for key, value in self.headers if key == name), None)

    def query(self) -> dict[str, str]:
        """Query parameters, decoded (first value wins)."""
        params: dict[str, str] = {}
        for name, value in _query_pairs(self.raw_query):
            params.setdefault(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
        return params


@dataclass(frozen=True)
class Verified:
    """A request whose signature checked out. `payload_hash` is what the client declared:
    a hex SHA-256, UNSIGNED-PAYLOAD, or one of the STREAMING-... modes; the caller must still
    check the body against it (the signature only covers the declaration)."""

    credentials: Credentials
    scope: CredentialScope
    timestamp: str
    signature: str
    payload_hash: str
    presigned: bool

    def signing_key(self) -> bytes:
        """The derived key, for checking chunk and trailer signatures."""
        return signing_key(self.credentials.secret_access_key, self.scope)


@dataclass(frozen=True)
class _Claim:
    """What a request claims: who signed it, when, over which headers, with what result."""

    access_key_id: str
    scope: CredentialScope
    timestamp: str
    signed_headers: list[str]
    signature: str


class SigV4Verifier:
    """Checks SigV4 signatures against a set of local credentials.

    `clock` gives the server's time (injectable for tests); requests signed more than
    `max_skew_seconds` away from it are refused (S3: 15 minutes). `service` pins the scope's
    service name (`s3` for the access point); None accepts any. Any region is accepted: like a
    Multi-Region Access Point, the gateway answers for every region.

    >>> verifier = SigV4Verifier([Credentials("AKID", "secret")])
    """

    def __init__(
        self,
        credentials: Iterable[Credentials],
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: float = 900.0,
        service: str | None = "s3",
    ) -> None:
        self._credentials = {c.access_key_id: c for c in credentials}
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._service = service

    def verify(self, request: SignedRequest, *, body_sha256: str | None = None) -> Verified:
        """Authenticate `request` by its Authorization header or its presigned query string.

        `body_sha256` is used when the request carries no `x-amz-content-sha256` header
        (non-S3 services sign the body's hash without sending it). Raises S3Error: 403
        AccessDenied (anonymous, expired), InvalidAccessKeyId, SignatureDoesNotMatch,
        RequestTimeTooSkewed; 400 for malformed authentication data.
        """
        authorization = request.header("authorization")
        if authorization is not None:
            return self._verify_header(request, authorization, body_sha256)
        if "X-Amz-Algorithm" in request.query():
            return self._verify_presigned(request)
        raise access_denied("Anonymous access is not allowed; sign the request with SigV4")

    def _verify_header(
        self, request: SignedRequest, authorization: str, body_sha256: str | None
    ) -> Verified:
        timestamp = request.header("x-amz-date")
        if timestamp is None:
            raise access_denied("AWS authentication requires a valid x-amz-date header")
        claim = _parse_authorization(authorization, timestamp)
        self._check_time(claim, timestamp, expires=None)
        payload_hash = request.header("x-amz-content-sha256") or body_sha256
        if payload_hash is None:
            raise bad_request(
                "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
            )
        query = canonical_query(request.raw_query)
        return self._check_signature(request, claim, query, payload_hash, presigned=False)

    def _verify_presigned(self, request: SignedRequest) -> Verified:
        params = request.query()
        missing = [name for name in _PRESIGN_PARAMS if not params.get(name)]
        if missing:
            raise bad_request(
                "AuthorizationQueryParametersError",
                f"Query-string authentication requires {', '.join(missing)}",
            )
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise bad_request(
                "AuthorizationQueryParametersError",
                "X-Amz-Algorithm only supports AWS4-HMAC-SHA256",
            )
        key_id, scope = _parse_credential(params["X-Amz-Credential"])
        claim = _Claim(
            key_id,
            scope,
            params["X-Amz-Date"],
            params["X-Amz-SignedHeaders"].split(";"),
            params["X-Amz-Signature"],
        )
        self._check_time(claim, claim.timestamp, expires=_parse_expires(params["X-Amz-Expires"]))
        query = canonical_query(request.raw_query, exclude="X-Amz-Signature")
        payload_hash = params.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
        return self._check_signature(request, claim, query, payload_hash, presigned=True)

    def _check_time(self, claim: _Claim, timestamp: str, *, expires: int | None) -> None:
        try:
            signed_at = parse_amz_date(timestamp)
        except ValueError:
            raise access_denied(f"X-Amz-Date {timestamp!r} is not a valid date") from None
        if claim.scope.date != timestamp[:8]:
            raise bad_request(
                "AuthorizationHeaderMalformed",
                f"credential date {claim.scope.date!r} does not match X-Amz-Date {timestamp!r}",
            )
        now = self._clock()
        if expires is not None:
            if now > signed_at + expires:
                raise S3Error(
                    "AccessDenied",
                    "Request has expired",
                    403,
                    {
                        "X-Amz-Expires": str(expires),
                        "Expires": amz_date(signed_at + expires),
                        "ServerTime": amz_date(now),
                    },
                )
            if signed_at - now > self._max_skew:
                raise access_denied("Request is not valid yet")
        elif abs(now - signed_at) > self._max_skew:
            raise S3Error(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                403,
                {"RequestTime": timestamp, "ServerTime": amz_date(now)},
            )

    def _check_signature(
        self,
        request: SignedRequest,
        claim: _Claim,
        query: str,
        payload_hash: str,
        *,
        presigned: bool,
    ) -> Verified:
        credentials = self._credentials.get(claim.access_key_id)
        if credentials is None:
            raise S3Error(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                403,
                {"AWSAccessKeyId": claim.access_key_id},
            )
        if self._service is not None and claim.scope.service != self._service:
            raise bad_request(
                "AuthorizationHeaderMalformed",
                f"the credential scope's service must be {self._service!r}",
            )
        _check_signed_header_set(request, claim.signed_headers)
        creq = canonical_request(
            request.method,
            canonical_uri(request.raw_path),
            query,
            canonical_headers(request.headers, claim.signed_headers),
            claim.signed_headers,
            payload_hash,
        )
        sts = string_to_sign(claim.timestamp, claim.scope, creq)
        expected = sign(signing_key(credentials.secret_access_key, claim.scope), sts)
        if not hmac.compare_digest(expected, claim.signature):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                403,
                {
                    "AWSAccessKeyId": claim.access_key_id,
                    "StringToSign": sts,
                    "SignatureProvided": claim.signature,
                    "CanonicalRequest": creq,
                },
            )
        return Verified(
            credentials, claim.scope, claim.timestamp, claim.signature, payload_hash, presigned
        )


def _parse_credential(text: str) -> tuple[str, CredentialScope]:
    parts = text.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise bad_request(
            "AuthorizationHeaderMalformed",
            f"the Credential {text!r} is not <key id>/<date>/<region>/<service>/aws4_request",
        )
    return parts[0], CredentialScope(parts[1], parts[2], parts[3])


def _parse_authorization(value: str, timestamp: str) -> _Claim:
    """The claim of an Authorization header's `value`, made at `timestamp` (x-amz-date)."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise invalid_authorization("Unsupported Authorization Type; use AWS4-HMAC-SHA256")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, field_value = part.strip().partition("=")
        fields[name] = field_value
    if not all(fields.get(name) for name in ("Credential", "SignedHeaders", "Signature")):
        raise bad_request(
            "AuthorizationHeaderMalformed",
            "the Authorization header needs Credential, SignedHeaders and Signature",
        )
    key_id, scope = _parse_credential(fields["Credential"])
    signed_headers = fields["SignedHeaders"].split(";")
    return _Claim(key_id, scope, timestamp, signed_headers, fields["Signature"])


def invalid_authorization(message: str) -> S3Error:
    """400 InvalidArgument about the Authorization header."""
    return S3Error("InvalidArgument", message, 400, {"ArgumentName": "Authorization"})


def _parse_expires(text: str) -> int:
    # Read before any signature is checked, so reachable without credentials.
    try:
        return parse_decimal(text, low=1, high=MAX_PRESIGN_EXPIRES)
    except ValueError:
        raise bad_request(
            "AuthorizationQueryParametersError",
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES}",
        ) from None


def _check_signed_header_set(request: SignedRequest, signed: Sequence[str]) -> None:
    """`host` must be signed, and so must every `x-amz-*` header present (as S3 demands),
    so nothing that changes the request's meaning can be added after signing."""
    if "host" not in signed:
        raise access_denied("the host header must be signed")
    unsigned = sorted(
        {name for name, _ in request.headers if name.startswith("x-amz-") and name not in signed}
    )
    if unsigned:
        raise access_denied(
            "There were headers present in the request which were not signed: "
            + ", ".join(unsigned)
        )
