"""`MailSink`: the local SMTP server that keeps every message it receives as an .eml file
(what SES is to the AWS target), and `read_mailbox` to read them back.

The sink takes mail only from the stack: a client must log in (SMTP AUTH, PLAIN or LOGIN,
over the loopback) as the stack's access key id with `mail_password(credentials)` before
MAIL FROM (else 530), and a message is at most `MAX_MESSAGE_BYTES` (else 552). Otherwise
any local process could drop a forged "processed" mail, with any link and idempotency
key, among the real ones that `mrbatch mail` lists.

Example (sink and notifier on this machine):
    credentials = generate_credentials()
    with MailSink(tmp / "mail", credentials=credentials) as sink:
        notifier = SmtpNotifier.for_sink(
            "127.0.0.1", sink.port, credentials, ledger_path=tmp / "sent.db")
        notifier.send(OutgoingEmail("a@x", ("b@x",), "Done", "body"), idempotency_key="f#v1")
"""

from __future__ import annotations

import asyncio
import email.policy
import hmac
import threading
import time
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from mrbatch.accesspoint.credentials import Credentials, mail_password
from mrbatch.atomic import atomic_write
from mrbatch.errors import MailError
from mrbatch.notify.smtp import MAX_MESSAGE_BYTES

__all__ = ["MailSink", "read_mailbox"]

_AUTH_REQUIRED = "530 5.7.0 Authentication required"


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
        target = self.directory / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        atomic_write(target, data)  # the temp name does not match read_mailbox's pattern
        return target


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
