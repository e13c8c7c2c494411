"""Email: `SmtpNotifier` sends over SMTP at most once per idempotency key (to the local
`MailSink` of `mrbatch.notify.sink`, or to Amazon SES's SMTP interface).

Idempotency: the notifier keeps a ledger of sent keys in a small SQLite file. `send` takes
the ledger's write lock (`BEGIN IMMEDIATE`), returns False if the key is there, otherwise
talks to the SMTP server and records the key in the same transaction. Threads and processes
sending the same key therefore send once; a refused message records nothing (a retry may
send it). The one window left is SMTP's own: a crash after the server accepted the message
and before the ledger commit means a retry sends it again. Each message carries a
Message-ID derived from its key, so such a duplicate is recognisable downstream.
The same class talks to Amazon SES's SMTP interface (`starttls=True`, SMTP credentials).
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

from mrbatch.accesspoint.credentials import Credentials, mail_password
from mrbatch.errors import MailError
from mrbatch.ports import OutgoingEmail
from mrbatch.state.db import SqliteDatabase

__all__ = ["MAX_MESSAGE_BYTES", "SmtpNotifier", "build_message"]

MAX_MESSAGE_BYTES = 1024 * 1024  # a notification is a few KB; SES's own limit is 40 MB

_LEDGER = """
CREATE TABLE IF NOT EXISTS sent (
    idempotency_key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    sent_at REAL NOT NULL
)
"""


def build_message(message: OutgoingEmail, *, idempotency_key: str) -> EmailMessage:
    """The MIME message for `message`, with a Message-ID derived from the key."""
    if not message.recipients:
        raise MailError(f"email {message.subject!r} has no recipients")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    mime = EmailMessage()
    mime["From"] = message.sender
    mime["To"] = ", ".join(message.recipients)
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = f"<{digest}@mrbatch>"
    mime["X-Mrbatch-Idempotency-Key"] = idempotency_key
    mime.set_content(message.body)
    return mime


class SmtpNotifier:
    """`Notifier` over SMTP to `host:port`, with its idempotency ledger at `ledger_path`.

    `starttls` is for a real relay such as SES; `username`/`password` log in (SES's SMTP
    credentials, or the local sink's: see `for_sink`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ledger_path: Path | str,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._starttls = starttls
        self._login = (username, password) if username is not None else None
        self._db = SqliteDatabase(ledger_path, error=MailError)
        with self._db.transaction() as conn:
            conn.execute(_LEDGER)

    @classmethod
    def for_sink(
        cls,
        host: str,
        port: int,
        credentials: Credentials,
        *,
        ledger_path: Path | str,
        timeout: float = 10.0,
    ) -> SmtpNotifier:
        """A notifier that logs in to the local `MailSink` with the stack's credentials."""
        return cls(
            host,
            port,
            ledger_path=ledger_path,
            timeout=timeout,
            username=credentials.access_key_id,
            password=mail_password(credentials),
        )

    def send(self, message: OutgoingEmail, *, idempotency_key: str) -> bool:
        """See `mrbatch.ports.Notifier.send`."""
        if not idempotency_key:
            raise MailError("an idempotency key is required to send email")
        mime = build_message(message, idempotency_key=idempotency_key)
        with self._db.transaction() as conn:
            seen = conn.execute(
                "SELECT 1 FROM sent WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if seen is not None:
                return False
            self._deliver(mime)
            conn.execute(
                "INSERT INTO sent VALUES (?, ?, ?)",
                (idempotency_key, mime["Message-ID"], time.time()),
            )
        return True

    def was_sent(self, idempotency_key: str) -> bool:
        """Whether a message with this key has been sent."""
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM sent WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        """Close the ledger."""
        self._db.close()

    def _deliver(self, mime: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._login is not None:
                    smtp.login(self._login[0], self._login[1] or "")
                # The envelope (MAIL FROM, RCPT TO) is read from the From and To headers,
                # which build_message wrote from the message's sender and recipients.
                smtp.send_message(mime)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"mail server {self.host}:{self.port} refused the message: {exc}"
            ) from exc
