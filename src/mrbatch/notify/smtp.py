"""Email: `SmtpNotifier` sends over SMTP at most once per idempotency key, and `MailSink`
is the local SMTP server that keeps every message it receives as an .eml file.

The sink takes mail only from the stack: a client must log in (SMTP AUTH, PLAIN or LOGIN,
over the loopback) as the stack's access key id with `mail_password(credentials)` before
MAIL FROM (else 530), and a message is at most `MAX_MESSAGE_BYTES` (else 552). Otherwise
any local process could drop a forged "processed" mail, with any link and idempotency
key, among the real ones that `mrbatch mail` lists.

Idempotency: the notifier keeps a ledger of sent keys in a small SQLite file. `send` takes
the ledger's write lock (`BEGIN IMMEDIATE`), returns False if the key is there, otherwise
talks to the SMTP server and records the key in the same transaction. Threads and processes
sending the same key therefore send once; a refused message records nothing (a retry may
send it). The one window left is SMTP's own: a crash after the server accepted the message
and before the ledger commit means a retry sends it again. Each message carries a
Message-ID derived from its key, so such a duplicate is recognisable downstream.
The same class talks to Amazon SES's SMTP interface (`starttls=True`, SMTP credentials).

Example (sink and notifier on this machine):
    credentials = generate_credentials()
    with MailSink(tmp / "mail", credentials=credentials) as sink:
        notifier = SmtpNotifier.for_sink(
            "127.0.0.1", sink.port, credentials, ledger_path=tmp / "sent.db")
        notifier.send(OutgoingEmail("a@x", ("b@x",), "Done", "body"), idempotency_key="f#v1")
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import hashlib
import hmac
import os
import smtplib
import tempfile
import threading
import time
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from mrbatch.errors import MailError
from mrbatch.ports import OutgoingEmail
from mrbatch.accesspoint.credentials import Credentials, mail_password
from mrbatch.state.db import SqliteDatabase

__all__ = ["MAX_MESSAGE_BYTES", "MailSink", "SmtpNotifier", "build_message", "read_mailbox"]

MAX_MESSAGE_BYTES = 1024 * 1024  # a notification is a few KB; SES's own limit is 40 MB
_AUTH_REQUIRED = "530 5.7.0 Authentication required"

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
            self._deliver(mime, message)
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

    def _deliver(self, mime: EmailMessage, message: OutgoingEmail) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._login is not None:
                    smtp.login(self._login[0], self._login[1] or "")
                smtp.send_message(mime, from_addr=message.sender, to_addrs=list(message.recipients))
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"mail server {self.host}:{self.port} refused the message: {exc}"
            ) from exc


class _StackLogin:
    """aiosmtpd authenticator: the one login is the stack's access key id and its mail
    password, compared in constant time."""

    def __init__(self, credentials: Credentials) -> None:
        self._login = credentials.access_key_id.encode()
        self._password = mail_password(credentials).encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login_ok = hmac.compare_digest(auth_data.login, self._login)
        password_ok = hmac.compare_digest(auth_data.password, self._password)
        return AuthResult(success=login_ok and password_ok, handled=False)


class _StoreHandler:
    """aiosmtpd handler: every accepted message becomes one .eml file, written atomically.

    MAIL FROM is refused until the session has logged in. aiosmtpd's own `auth_required`
    would do the same but warns on every connection when TLS is not required, and the
    sink speaks plain SMTP over the loopback only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not session.authenticated:
            return _AUTH_REQUIRED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:  # unreachable without MAIL FROM; kept as the rule
            return _AUTH_REQUIRED
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        data = data.replace(b"\r\n", b"\n")  # stored with Unix line ends, as maildir does
        await asyncio.to_thread(self._store, data)
        return "250 Message accepted for delivery"

    def _store(self, data: bytes) -> Path:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.directory / name


class MailSink:
    """A local SMTP server on 127.0.0.1 that stores each message in `directory` as .eml,
    taking mail only from a client logged in with `credentials` (see the module doc).

    `port=0` picks a free port; `port` holds the real one once started. Runs its own event
    loop in a thread; `start()` returns once the server accepts connections.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        credentials: Credentials,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self._login = _StackLogin(credentials)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MailSink:
        """Bind and serve; raises MailError when the port cannot be bound."""
        if self._thread is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        loop = asyncio.new_event_loop()
        handler = _StoreHandler(self.directory)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(lambda: self._session(handler), self.host, self.port)
            )
        except OSError as exc:
            loop.close()
            raise MailError(f"mail sink cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="mail-sink", daemon=True)
        self._thread.start()
        return self

    def _session(self, handler: _StoreHandler) -> SMTP:
        return SMTP(
            handler,
            hostname="mrbatch-sink",
            authenticator=self._login,
            auth_require_tls=False,  # loopback only; the password is derived for the sink
            data_size_limit=MAX_MESSAGE_BYTES,
        )

    def stop(self) -> None:
        """Stop serving and close the loop. Idempotent."""
        loop, server, thread = self._loop, self._server, self._thread
        if loop is None or server is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_close(server), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._server = self._thread = None

    def messages(self) -> list[EmailMessage]:
        """Every message stored so far, oldest first."""
        return read_mailbox(self.directory)

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _close(server: asyncio.AbstractServer) -> None:
    server.close()
    await server.wait_closed()
    await asyncio.get_running_loop().shutdown_default_executor()


def read_mailbox(directory: Path | str) -> list[EmailMessage]:
    """The .eml files in `directory` parsed, oldest first (file names sort by arrival)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    messages = []
    for path in sorted(folder.glob("[0-9]*.eml")):
        parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
        messages.append(parser.parsebytes(path.read_bytes()))
    return messages
