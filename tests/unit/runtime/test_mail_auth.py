"""The mail sink takes mail only from the stack: SMTP AUTH with the stack's credentials,
and a bounded message size. Real sink on 127.0.0.1, real smtplib client."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.accesspoint.credentials import Credentials, generate_credentials, mail_password
from mrbatch.errors import MailError
from mrbatch.notify.sink import MailSink, read_mailbox
from mrbatch.notify.smtp import MAX_MESSAGE_BYTES, SmtpNotifier
from mrbatch.ports import OutgoingEmail

FORGED = (
    b"From: mrbatch@localhost\r\nTo: owner@localhost\r\nSubject: File input/a.csv processed\r\n"
    b"X-Mrbatch-Idempotency-Key: input/a.csv#v1\r\n\r\nDownload: http://evil.example/x\r\n"
)
MESSAGE = OutgoingEmail("mrbatch@localhost", ("owner@localhost",), "Done", "Download: x\n")


@pytest.fixture
def credentials() -> Credentials:
    return generate_credentials()


@pytest.fixture
def sink(tmp_path: Path, credentials: Credentials) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail", credentials=credentials) as running:
        yield running


def _client(sink: MailSink) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
    smtp.ehlo()
    return smtp


def test_mail_is_refused_without_authentication(sink: MailSink) -> None:
    with _client(sink) as smtp, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        smtp.sendmail("mrbatch@localhost", ["owner@localhost"], FORGED)
    assert refused.value.smtp_code == 530
    assert read_mailbox(sink.directory) == []


@pytest.mark.parametrize("password", ["wrong", "secret"])
def test_login_is_refused_with_a_wrong_password(
    sink: MailSink, credentials: Credentials, password: str
) -> None:
    # "secret": the gateway's own secret is not the sink's password (it is derived)
    attempt = credentials.secret_access_key if password == "secret" else password
    with _client(sink) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(credentials.access_key_id, attempt)
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused):
            smtp.sendmail("mrbatch@localhost", ["owner@localhost"], FORGED)
    assert read_mailbox(sink.directory) == []


def test_login_is_refused_for_another_access_key(sink: MailSink, credentials: Credentials) -> None:
    with _client(sink) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login("MRBKAAAAAAAAAAAAAAAA", mail_password(credentials))
    assert read_mailbox(sink.directory) == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_mail_is_stored_after_login_with_the_stack_credentials(
    sink: MailSink, credentials: Credentials, mechanism: str
) -> None:
    with _client(sink) as smtp:
        smtp.user, smtp.password = credentials.access_key_id, mail_password(credentials)
        method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
        code, _ = smtp.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
        assert code == 235
        smtp.sendmail("mrbatch@localhost", ["owner@localhost"], FORGED)
    [stored] = read_mailbox(sink.directory)
    assert stored["X-Mrbatch-Idempotency-Key"] == "input/a.csv#v1"


def test_message_over_the_size_limit_is_refused(sink: MailSink, credentials: Credentials) -> None:
    big = FORGED + b"x" * 998 + b"\r\n"
    big = big * (MAX_MESSAGE_BYTES // len(big) + 1)
    with _client(sink) as smtp:
        smtp.login(credentials.access_key_id, mail_password(credentials))
        with pytest.raises(smtplib.SMTPException) as refused:
            smtp.sendmail("mrbatch@localhost", ["owner@localhost"], big)
    assert "552" in str(refused.value)
    assert read_mailbox(sink.directory) == []


def test_notifier_logs_in_with_the_stack_credentials(
    sink: MailSink, credentials: Credentials, tmp_path: Path
) -> None:
    notifier = SmtpNotifier.for_sink(
        "127.0.0.1", sink.port, credentials, ledger_path=tmp_path / "l.db"
    )
    try:
        assert notifier.send(MESSAGE, idempotency_key="k1") is True
    finally:
        notifier.close()
    [stored] = read_mailbox(sink.directory)
    assert stored["Subject"] == "Done"


def test_notifier_with_other_credentials_is_refused_and_records_nothing(
    sink: MailSink, tmp_path: Path
) -> None:
    other = generate_credentials()
    notifier = SmtpNotifier.for_sink("127.0.0.1", sink.port, other, ledger_path=tmp_path / "l.db")
    try:
        with pytest.raises(MailError, match="refused"):
            notifier.send(MESSAGE, idempotency_key="k1")
        assert not notifier.was_sent("k1")
    finally:
        notifier.close()
    assert read_mailbox(sink.directory) == []
