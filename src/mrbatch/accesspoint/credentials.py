"""Local access credentials for the access point and the control API.

`mrbatch up` generates one random pair per data directory and prints it; clients sign with it
(SigV4) exactly as they would with AWS credentials. The control API also accepts a bearer
token derived from the secret (`control_token`), so a script can call it with plain HTTP;
the mail sink's SMTP AUTH password is derived the same way (`mail_password`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["Credentials", "control_token", "generate_credentials", "mail_password"]

_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOKEN_CONTEXT = b"mrbatch control api v1"
_MAIL_CONTEXT = b"mrbatch mail sink v1"


@dataclass(frozen=True)
class Credentials:
    """An access key id and its secret, as AWS's. `repr` hides the secret."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def generate_credentials() -> Credentials:
    """A fresh random pair shaped like AWS's: a 20-character id starting with `MRBK`
    (AWS's look `AKIA...`) and a 40-character URL-safe secret.

    >>> creds = generate_credentials()
    >>> len(creds.access_key_id), len(creds.secret_access_key)
    (20, 40)
    """
    key_id = "MRBK" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return Credentials(key_id, secrets.token_urlsafe(30))


def control_token(credentials: Credentials) -> str:
    """The bearer token for the control API: `<access key id>.<HMAC-SHA256(secret, context)>`.

    Derived, not stored, so it changes with the secret and reveals nothing about it.
    """
    return f"{credentials.access_key_id}.{_derive(credentials, _TOKEN_CONTEXT)}"


def mail_password(credentials: Credentials) -> str:
    """The SMTP AUTH password of the local mail sink (the user name is the access key id).

    Derived for this one use, so whatever listens on the sink's port (AUTH PLAIN sends the
    password as is) learns nothing that opens the access point or the control API.
    """
    return _derive(credentials, _MAIL_CONTEXT)


def _derive(credentials: Credentials, context: bytes) -> str:
    return hmac.new(credentials.secret_access_key.encode(), context, hashlib.sha256).hexdigest()
