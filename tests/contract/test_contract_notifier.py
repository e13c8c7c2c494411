"""The Notifier contract, against a real SMTP server: the local MailSink on a free port.

Every message the notifier sends must appear as exactly one .eml file per idempotency key.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.accesspoint.credentials import Credentials, generate_credentials
from mrbatch.errors import MailError
from mrbatch.notify.sink import MailSink, read_mailbox
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.ports import Notifier, OutgoingEmail

MESSAGE = OutgoingEmail(
    sender="mrbatch@example.com",
    recipients=("ops@example.com", "dev@example.com"),
    subject="File input/sales.csv processed",
    body="Download: https://127.0.0.1/x?sig=1\nRows processed: 10\nInvalid: 0\n",
)


CREDENTIALS: Credentials = generate_credentials()


def sink_notifier(port: int, ledger_path: Path, *, timeout: float = 10.0) -> SmtpNotifier:
    """A notifier logged in to the sink as the stack is."""
    return SmtpNotifier.for_sink(
        "127.0.0.1", port, CREDENTIALS, ledger_path=ledger_path, timeout=timeout
    )


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mailbox", credentials=CREDENTIALS) as running:
        yield running


@pytest.fixture
def notifier(sink: MailSink, tmp_path: Path) -> Iterator[SmtpNotifier]:
    sender = sink_notifier(sink.port, tmp_path / "sent.db")
    yield sender
    sender.close()


def eml_files(sink: MailSink) -> list[Path]:
    return sorted(sink.directory.glob("*.eml"))


def test_smtp_notifier_is_a_notifier(notifier: SmtpNotifier) -> None:
    assert isinstance(notifier, Notifier)


def test_send_delivers_one_eml_with_exact_content(notifier: SmtpNotifier, sink: MailSink) -> None:
    assert notifier.send(MESSAGE, idempotency_key="input/sales.csv#v1") is True
    [message] = sink.messages()
    assert message["From"] == "mrbatch@example.com"
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["Subject"] == "File input/sales.csv processed"
    assert message.get_content() == MESSAGE.body
    digest = hashlib.sha256(b"input/sales.csv#v1").hexdigest()[:32]
    assert message["Message-ID"] == f"<{digest}@mrbatch>"
    assert len(eml_files(sink)) == 1
    assert [p.name for p in sink.directory.iterdir() if p.name.startswith(".tmp")] == []


def test_second_send_with_same_key_sends_nothing(notifier: SmtpNotifier, sink: MailSink) -> None:
    assert notifier.send(MESSAGE, idempotency_key="k1") is True
    assert notifier.send(MESSAGE, idempotency_key="k1") is False
    assert len(eml_files(sink)) == 1
    assert notifier.was_sent("k1") and not notifier.was_sent("k2")


def test_different_keys_send_different_messages(notifier: SmtpNotifier, sink: MailSink) -> None:
    assert notifier.send(MESSAGE, idempotency_key="a") is True
    assert notifier.send(MESSAGE, idempotency_key="b") is True
    assert len(read_mailbox(sink.directory)) == 2


def test_two_threads_same_key_send_once(notifier: SmtpNotifier, sink: MailSink) -> None:
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def send() -> None:
        barrier.wait()
        results.append(notifier.send(MESSAGE, idempotency_key="race"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert len(eml_files(sink)) == 1


def test_notifiers_sharing_a_ledger_send_once(
    notifier: SmtpNotifier, sink: MailSink, tmp_path: Path
) -> None:
    other = sink_notifier(sink.port, tmp_path / "sent.db")
    assert notifier.send(MESSAGE, idempotency_key="shared") is True
    assert other.send(MESSAGE, idempotency_key="shared") is False
    other.close()
    assert len(eml_files(sink)) == 1


def test_unreachable_server_raises_and_allows_retry(sink: MailSink, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = sink_notifier(closed_port, tmp_path / "l.db", timeout=2)
    with pytest.raises(MailError):
        down.send(MESSAGE, idempotency_key="retry-me")
    down.close()
    up = sink_notifier(sink.port, tmp_path / "l.db")
    assert up.send(MESSAGE, idempotency_key="retry-me") is True
    up.close()
    assert len(eml_files(sink)) == 1


def test_message_without_recipients_is_refused(notifier: SmtpNotifier, sink: MailSink) -> None:
    empty = OutgoingEmail("a@example.com", (), "s", "b")
    with pytest.raises(MailError):
        notifier.send(empty, idempotency_key="k")
    assert eml_files(sink) == []
    assert not notifier.was_sent("k")


def test_sink_listens_on_loopback_and_stops(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "box", credentials=CREDENTIALS).start()
    port = sink.port
    assert sink.host == "127.0.0.1" and port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(100).startswith(b"220")
    sink.stop()
    sink.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
