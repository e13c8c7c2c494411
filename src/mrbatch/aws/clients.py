"""boto3 clients, created on first use and then reused for the container's life.

A Lambda container serves many invocations; creating a client costs tens of
milliseconds, so each (service, region) gets one, made lazily (never at import: importing
a handler must not need credentials) and cached for the process. Clients are thread-safe,
so the split's put threads share them.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["client", "forget_clients"]

_lock = threading.Lock()
_clients: dict[tuple[str, str, str], Any] = {}
_RETRIES = {"mode": "standard", "max_attempts": 5}
_CONFIGS = {
    "default": Config(retries=_RETRIES),  # type: ignore[arg-type]
    # links to a regional bucket: SigV4 (boto3 would presign SigV2 in us-east-1); a
    # Multi-Region Access Point ARN makes botocore sign SigV4A whatever this says
    "presign": Config(retries=_RETRIES, signature_version="s3v4"),  # type: ignore[arg-type]
}


def client(service: str, region: str, *, purpose: str = "default") -> Any:
    """The process's client for `service` in `region` (created on the first call);
    `purpose` "presign" is an S3 client that presigns SigV4."""
    with _lock:
        made = _clients.get((service, region, purpose))
        if made is None:
            made = boto3.client(service, region_name=region, config=_CONFIGS[purpose])  # type: ignore[call-overload]
            _clients[(service, region, purpose)] = made
        return made


def forget_clients() -> None:
    """Drop every cached client (tests that start a fresh moto between cases)."""
    with _lock:
        _clients.clear()
