"""Presigned GET URLs for the access point, in the exact form boto3's
`generate_presigned_url("get_object", ...)` produces (SigV4 query-string authentication,
`X-Amz-SignedHeaders=host`, UNSIGNED-PAYLOAD), so any S3 client or a browser can use them.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

from mrbatch.accesspoint.credentials import Credentials
from mrbatch.accesspoint.sigv4 import (
    ALGORITHM,
    MAX_PRESIGN_EXPIRES,
    UNSIGNED_PAYLOAD,
    CredentialScope,
    amz_date,
    canonical_headers,
    canonical_query,
    canonical_request,
    sign,
    signing_key,
    string_to_sign,
)
from mrbatch.errors import MrBatchError

__all__ = ["presign_get_url"]

SIGNED_HEADER = "host"
"""The one header a presigned URL signs, as boto3's: named once, so the query's
X-Amz-SignedHeaders and the canonical request cannot disagree."""


def presign_get_url(
    endpoint: str,
    bucket: str,
    key: str,
    credentials: Credentials,
    *,
    expires_in: int = 3600,
    region: str = "us-east-1",
    now: float | None = None,
) -> str:
    """A URL that lets anyone GET `bucket/key` through the access point at `endpoint`
    (e.g. `http://127.0.0.1:8080`) until `expires_in` seconds after `now` (default: the
    current time; pass a past time to make an already-expired link for tests).

    >>> url = presign_get_url("http://127.0.0.1:9000", "mrbatch", "output/a.csv",
    ...                       Credentials("AKID", "secret"), now=0)
    >>> url.split("?")[0]
    'http://127.0.0.1:9000/mrbatch/output/a.csv'
    """
    if not 1 <= expires_in <= MAX_PRESIGN_EXPIRES:
        raise MrBatchError(f"expires_in must be from 1 to {MAX_PRESIGN_EXPIRES} seconds")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MrBatchError(f"endpoint must be an http(s) URL, not {endpoint!r}")
    timestamp = amz_date(time.time() if now is None else now)
    scope = CredentialScope(timestamp[:8], region, "s3")
    path = parts.path.rstrip("/") + "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")
    query = "&".join(
        f"{name}={quote(value, safe='')}"
        for name, value in (
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{credentials.access_key_id}/{scope}"),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", str(expires_in)),
            ("X-Amz-SignedHeaders", SIGNED_HEADER),
        )
    )
    creq = canonical_request(
        "GET",
        path,
        canonical_query(query),
        canonical_headers([(SIGNED_HEADER, parts.netloc)], [SIGNED_HEADER]),
        [SIGNED_HEADER],
        UNSIGNED_PAYLOAD,
    )
    signature = sign(
        signing_key(credentials.secret_access_key, scope), string_to_sign(timestamp, scope, creq)
    )
    return f"{parts.scheme}://{parts.netloc}{path}?{query}&X-Amz-Signature={signature}"
