"""Email backends for the Notifier contract (`notifier_backend` in conftest.py)."""

from __future__ import annotations

import email.policy
import socket
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import boto3

from mrbatch.accesspoint.credentials import Credentials, generate_credentials
from mrbatch.notify.ses import MAIL_LEDGER, SesNotifier
from mrbatch.notify.sink import MailSink
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.ports import Notifier, Table
from mrbatch.state import DynamoDBTable, MemoryTable, create_dynamodb_table

SMTP_CREDENTIALS: Credentials = generate_credentials()


@dataclass
class NotifierBackend:
    """One email backend: `make()` opens a notifier (every one made shares one ledger),
    `make_refused()` one whose mail service refuses or cannot be reached (same ledger),
    `delivered()` every message the service accepted, oldest first."""

    kind: str
    make: Callable[[], Notifier]
    make_refused: Callable[[], Notifier]
    delivered: Callable[[], list[EmailMessage]]


def smtp_backend(tmp_path: Path, sink: MailSink, made: list[SmtpNotifier]) -> NotifierBackend:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    def on_port(port: int) -> Notifier:
        notifier = SmtpNotifier.for_sink(
            "127.0.0.1", port, SMTP_CREDENTIALS, ledger_path=tmp_path / "sent.db", timeout=5
        )
        made.append(notifier)
        return notifier

    return NotifierBackend(
        "smtp", lambda: on_port(sink.port), lambda: on_port(closed_port), sink.messages
    )


def ses_backend(*, memory_ledger: bool = False) -> NotifierBackend:
    """SES under moto: us-east-1 has the sender's domain verified, us-west-2 does not (so
    SES refuses what is sent from there); the ledger is one DynamoDB table, or with
    `memory_ledger` one MemoryTable (atomic: moto checks conditions without a lock, so
    threads racing on its DynamoDB would test moto, not the notifier)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_dynamodb_table(dynamodb, MAIL_LEDGER, table_name="mail-ledger")
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(
        EmailIdentity="example.com"
    )

    shared = MemoryTable(MAIL_LEDGER)

    def in_region(name: str) -> Notifier:
        ledger: Table = (
            shared
            if memory_ledger
            else DynamoDBTable(dynamodb, MAIL_LEDGER, table_name="mail-ledger")
        )
        return SesNotifier(boto3.client("sesv2", region_name=name), ledger)

    def delivered() -> list[EmailMessage]:
        parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
        sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        return [parser.parsebytes(m.raw_data.encode()) for m in sent]

    return NotifierBackend(
        "ses", lambda: in_region("us-east-1"), lambda: in_region("us-west-2"), delivered
    )
