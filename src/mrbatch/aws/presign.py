"""Presigned links to an output: through the Multi-Region Access Point, or a bucket.

A link through the Multi-Region Access Point keeps working after a failover (the access
point routes to whichever bucket its dials allow, and both buckets hold the output once
replicated). It must be signed with SigV4A (an ECDSA signature valid in every region,
`X-Amz-Region-Set=*`), which botocore implements only with the AWS CRT (`awscrt`):
without it, presigning for an access point ARN fails, and this says so rather than emit
a link that AWS would refuse. With no access point configured, links go to the region's
own bucket, signed SigV4.

The credentials are the function's role: a presigned link is valid for at most the
remaining life of the role's session (hours), whatever `expires_in` says; the email says
how long it is meant to last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, MissingDependencyException

from mrbatch.errors import ConfigError

__all__ = ["Presigner", "presigner"]

Presigner = Callable[[str], tuple[str, int]]
"""key -> (URL, seconds until it expires), as `Region.presign`."""


def presigner(s3_client: Callable[[], Any], target: str, *, expires_in: int) -> Presigner:
    """Links to objects of `target`, a Multi-Region Access Point ARN
    (`arn:aws:s3::<account>:accesspoint/<alias>.mrap`) or a bucket name; `s3_client` gives
    the S3 client to sign with (made lazily: see `mrbatch.aws.clients`)."""

    def presign(key: str) -> tuple[str, int]:
        try:
            url = s3_client().generate_presigned_url(
                "get_object", Params={"Bucket": target, "Key": key}, ExpiresIn=expires_in
            )
        except MissingDependencyException as exc:
            raise ConfigError(
                "links through a Multi-Region Access Point need SigV4A: install awscrt"
            ) from exc
        except BotoCoreError as exc:
            raise ConfigError(f"cannot presign a link to {key} in {target}: {exc}") from exc
        return str(url), expires_in

    return presign
