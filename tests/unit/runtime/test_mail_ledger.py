"""SmtpNotifier beyond the Notifier contract: the message it builds, the ledger it keeps,
and how it talks to the server (login, STARTTLS, timeout). Real SMTP servers on 127.0.0.1:
the stack's MailSink, aiosmtpd with a recording authenticator, a socket that never answers."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mrbatch.accesspoint.credentials import Credentials, generate_credentials
from mrbatch.errors import MailError
from mrbatch.notify.sink import MailSink, read_mailbox
from mrbatch.notify.smtp import SmtpNotifier, build_message
from mrbatch.ports import OutgoingEmail

MESSAGE = OutgoingEmail(
    "mrbatch@example.com", ("ops@example.com", "dev@example.com"), "Done", "Download: x\n"
)


@pytest.fixture
def credentials() -> Credentials:
    return generate_credentials()


@pytest.fixture
def sink(tmp_path: Path, credentials: Credentials) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail", credentials=credentials) as running:
        yield running


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


# --- the message -------------------------------------------------------------------------


def test_message_carries_its_key_in_a_message_id_and_a_header() -> None:
    mime = build_message(MESSAGE, idempotency_key="input/a.csv#v1")
    assert (mime["From"], mime["To"], mime["Subject"]) == (
        "mrbatch@example.com",
        "ops@example.com, dev@example.com",
        "Done",
    )
    # sha256("input/a.csv#v1")[:32], computed with sha256sum
    assert mime["Message-ID"] == "<7e543a57185a8ba842d899f8ee4a0783@mrbatch>"
    assert mime["X-Mrbatch-Idempotency-Key"] == "input/a.csv#v1"
    assert mime.get_content() == "Download: x\n"


def test_message_is_dated_when_built_in_utc() -> None:
    before = time.time()
    mime = build_message(MESSAGE, idempotency_key="k")
    after = time.time()
    date = mime["Date"]
    assert date.endswith(" -0000")  # UTC; the server's own zone is not disclosed
    parsed = email.utils.parsedate_tz(date)
    assert parsed is not None
    sent_at = email.utils.mktime_tz(parsed)
    assert int(before) <= sent_at <= after


def test_message_without_recipients_is_refused_by_its_subject() -> None:
    with pytest.raises(MailError) as caught:
        build_message(
            OutgoingEmail("mrbatch@example.com", (), "File a.csv processed", "x"),
            idempotency_key="k",
        )
    assert str(caught.value) == "email 'File a.csv processed' has no recipients"


# --- the ledger --------------------------------------------------------------------------


def test_send_without_an_idempotency_key_is_refused_and_sends_nothing(
    sink: MailSink, credentials: Credentials, tmp_path: Path
) -> None:
    notifier = SmtpNotifier.for_sink(
        "127.0.0.1", sink.port, credentials, ledger_path=tmp_path / "sent.db"
    )
    try:
        with pytest.raises(MailError) as caught:
            notifier.send(MESSAGE, idempotency_key="")
    finally:
        notifier.close()
    assert str(caught.value) == "an idempotency key is required to send email"
    assert read_mailbox(sink.directory) == []


def test_a_sent_key_is_known_to_every_notifier_on_the_ledger(
    sink: MailSink, credentials: Credentials, tmp_path: Path
) -> None:
    first = SmtpNotifier.for_sink(
        "127.0.0.1", sink.port, credentials, ledger_path=tmp_path / "sent.db"
    )
    try:
        assert first.was_sent("input/a.csv#v1") is False
        assert first.send(MESSAGE, idempotency_key="input/a.csv#v1") is True
        assert first.was_sent("input/a.csv#v1") is True
        assert first.was_sent("input/a.csv#v2") is False
    finally:
        first.close()
    reopened = SmtpNotifier.for_sink(
        "127.0.0.1", sink.port, credentials, ledger_path=tmp_path / "sent.db"
    )
    try:
        assert reopened.was_sent("input/a.csv#v1") is True
    finally:
        reopened.close()


def test_a_ledger_that_cannot_be_opened_is_a_mail_error(tmp_path: Path) -> None:
    with pytest.raises(MailError, match="cannot open database"):
        SmtpNotifier("127.0.0.1", 25, ledger_path=tmp_path)  # a directory, not a file


# --- talking to the server ---------------------------------------------------------------


def test_notifier_without_a_username_sends_without_logging_in(
    sink: MailSink, tmp_path: Path
) -> None:
    notifier = SmtpNotifier("127.0.0.1", sink.port, ledger_path=tmp_path / "sent.db")
    try:
        with pytest.raises(MailError) as caught:
            notifier.send(MESSAGE, idempotency_key="k1")
        assert notifier.was_sent("k1") is False
    finally:
        notifier.close()
    # the sink refuses MAIL FROM before a login, not a login attempt
    assert "Authentication required" in str(caught.value)
    assert str(caught.value).startswith(f"mail server 127.0.0.1:{sink.port} refused the message: ")


def test_starttls_to_a_server_without_it_is_refused_and_records_nothing(
    sink: MailSink, credentials: Credentials, tmp_path: Path
) -> None:
    notifier = SmtpNotifier(
        "127.0.0.1", sink.port, ledger_path=tmp_path / "sent.db", starttls=True,
        username=credentials.access_key_id, password="never sent in clear",
    )  # fmt: skip
    try:
        with pytest.raises(MailError, match="STARTTLS"):
            notifier.send(MESSAGE, idempotency_key="k1")
        assert notifier.was_sent("k1") is False
    finally:
        notifier.close()
    assert read_mailbox(sink.directory) == []


@pytest.mark.parametrize("made_for", ["sink", "relay"])
def test_a_server_that_never_answers_fails_the_send_after_the_timeout(
    silent_port: int, credentials: Credentials, tmp_path: Path, made_for: str
) -> None:
    ledger = tmp_path / "sent.db"
    notifier = (
        SmtpNotifier.for_sink(
            "127.0.0.1", silent_port, credentials, ledger_path=ledger, timeout=0.5
        )
        if made_for == "sink"
        else SmtpNotifier("127.0.0.1", silent_port, ledger_path=ledger, timeout=0.5)
    )
    try:
        started = time.monotonic()
        with pytest.raises(MailError, match="refused the message"):
            notifier.send(MESSAGE, idempotency_key="k1")
        assert time.monotonic() - started < 5.0  # the 0.5 s timeout, not a 10 s default
        assert notifier.was_sent("k1") is False
    finally:
        notifier.close()


def test_a_notifier_waits_ten_seconds_for_the_server_by_default(
    credentials: Credentials, tmp_path: Path
) -> None:
    relay = SmtpNotifier("127.0.0.1", 25, ledger_path=tmp_path / "relay.db")
    sink = SmtpNotifier.for_sink("127.0.0.1", 25, credentials, ledger_path=tmp_path / "sink.db")
    try:
        assert (relay.timeout, sink.timeout) == (10.0, 10.0)
    finally:
        relay.close()
        sink.close()


class _Recorder:
    """aiosmtpd authenticator and handler that accept anything and remember it."""

    def __init__(self) -> None:
        self.logins: list[tuple[bytes, bytes]] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def test_username_without_a_password_logs_in_with_an_empty_password(tmp_path: Path) -> None:
    recorder = _Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, authenticator=recorder,
        auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    notifier = SmtpNotifier("127.0.0.1", port, ledger_path=tmp_path / "sent.db", username="ops")
    try:
        assert notifier.send(MESSAGE, idempotency_key="k1") is True
    finally:
        notifier.close()
        controller.stop()
    assert recorder.logins == [(b"ops", b"")]
    assert recorder.envelopes == [("mrbatch@example.com", ["ops@example.com", "dev@example.com"])]
