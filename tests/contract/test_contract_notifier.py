"""The Notifier contract, for every notifier that sends real mail (`notifier_backend`):
SMTP to the local MailSink on a free port, and SES (SESv2 SendEmail) under moto.

Every message must reach the mail service exactly once per idempotency key, whatever the
number of callers, notifiers or retries after a refusal.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import pytest
from tests.contract.notifiers import SMTP_CREDENTIALS, NotifierBackend

from mrbatch.errors import MailError
from mrbatch.notify.sink import MailSink
from mrbatch.ports import Notifier, OutgoingEmail

MESSAGE = OutgoingEmail(
    sender="mrbatch@example.com",
    recipients=("ops@example.com", "dev@example.com"),
    subject="File input/sales.csv processed",
    body="Download: https://127.0.0.1/x?sig=1\nRows processed: 10\nInvalid: 0\n",
)


def test_notifier_is_a_notifier(notifier_backend: NotifierBackend) -> None:
    assert isinstance(notifier_backend.make(), Notifier)


def test_send_delivers_one_message_with_exact_content(notifier_backend: NotifierBackend) -> None:
    assert notifier_backend.make().send(MESSAGE, idempotency_key="input/sales.csv#v1") is True
    [message] = notifier_backend.delivered()
    assert message["From"] == "mrbatch@example.com"
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["Subject"] == "File input/sales.csv processed"
    assert message.get_content() == MESSAGE.body
    digest = hashlib.sha256(b"input/sales.csv#v1").hexdigest()[:32]
    assert message["Message-ID"] == f"<{digest}@mrbatch>"
    assert message["X-Mrbatch-Idempotency-Key"] == "input/sales.csv#v1"


def test_second_send_with_same_key_sends_nothing(notifier_backend: NotifierBackend) -> None:
    notifier = notifier_backend.make()
    assert notifier.send(MESSAGE, idempotency_key="k1") is True
    assert notifier.send(MESSAGE, idempotency_key="k1") is False
    assert len(notifier_backend.delivered()) == 1


def test_different_keys_send_different_messages(notifier_backend: NotifierBackend) -> None:
    notifier = notifier_backend.make()
    assert notifier.send(MESSAGE, idempotency_key="a") is True
    assert notifier.send(MESSAGE, idempotency_key="b") is True
    keys = [m["X-Mrbatch-Idempotency-Key"] for m in notifier_backend.delivered()]
    assert keys == ["a", "b"]


def test_two_threads_same_key_send_once(atomic_notifier_backend: NotifierBackend) -> None:
    notifier_backend = atomic_notifier_backend
    notifier = notifier_backend.make()
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
    assert len(notifier_backend.delivered()) == 1


def test_notifiers_sharing_a_ledger_send_once(notifier_backend: NotifierBackend) -> None:
    assert notifier_backend.make().send(MESSAGE, idempotency_key="shared") is True
    assert notifier_backend.make().send(MESSAGE, idempotency_key="shared") is False
    assert len(notifier_backend.delivered()) == 1


def test_refused_message_raises_and_allows_retry(notifier_backend: NotifierBackend) -> None:
    with pytest.raises(MailError):
        notifier_backend.make_refused().send(MESSAGE, idempotency_key="retry-me")
    assert notifier_backend.delivered() == []
    assert notifier_backend.make().send(MESSAGE, idempotency_key="retry-me") is True
    assert len(notifier_backend.delivered()) == 1


def test_message_without_recipients_is_refused(notifier_backend: NotifierBackend) -> None:
    notifier = notifier_backend.make()
    empty = OutgoingEmail("a@example.com", (), "s", "b")
    with pytest.raises(MailError):
        notifier.send(empty, idempotency_key="k")
    assert notifier_backend.delivered() == []
    assert notifier.send(MESSAGE, idempotency_key="k") is True


def test_sink_keeps_one_eml_file_per_message(tmp_path: Path) -> None:
    from mrbatch.notify.smtp import SmtpNotifier

    with MailSink(tmp_path / "box", credentials=SMTP_CREDENTIALS) as sink:
        notifier = SmtpNotifier.for_sink(
            "127.0.0.1", sink.port, SMTP_CREDENTIALS, ledger_path=tmp_path / "l.db"
        )
        notifier.send(MESSAGE, idempotency_key="k")
        notifier.close()
        assert len(list(sink.directory.glob("*.eml"))) == 1
        assert [p.name for p in sink.directory.iterdir() if p.name.startswith(".tmp")] == []


def test_sink_listens_on_loopback_and_stops(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "box", credentials=SMTP_CREDENTIALS).start()
    port = sink.port
    assert sink.host == "127.0.0.1" and port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(100).startswith(b"220")
    sink.stop()
    sink.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
