"""SesNotifier's ledger beyond the contract: claims left by a dead sender, claims in flight."""

from __future__ import annotations

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from mypy_boto3_sesv2 import SESV2Client

from mrbatch.notify.ses import MAIL_LEDGER, SesNotifier
from mrbatch.ports import OutgoingEmail
from mrbatch.state import MemoryTable

MESSAGE = OutgoingEmail("mrbatch@example.com", ("ops@example.com",), "done", "body\n")


@pytest.fixture
def ses(aws: None) -> SESV2Client:
    client = boto3.client("sesv2", region_name="us-east-1")
    client.create_email_identity(EmailIdentity="example.com")
    return client


def sent_count() -> int:
    return len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def test_stale_claim_is_taken_over_when_its_lease_expired(ses: SESV2Client) -> None:
    ledger = MemoryTable(MAIL_LEDGER)
    ledger.put({"idempotency_key": "k", "status": "SENDING", "token": "dead", "claimed_at": 0.0})
    notifier = SesNotifier(ses, ledger, lease_seconds=60, clock=lambda: 1000.0)
    assert notifier.send(MESSAGE, idempotency_key="k") is True
    assert sent_count() == 1
    assert ledger.get({"idempotency_key": "k"})["status"] == "SENT"  # type: ignore[index]


def test_claim_in_flight_is_waited_for_when_it_is_fresh(ses: SESV2Client) -> None:
    ledger = MemoryTable(MAIL_LEDGER)
    ledger.put({"idempotency_key": "k", "status": "SENDING", "token": "other", "claimed_at": 990.0})
    waits: list[float] = []

    def other_sender_finishes(seconds: float) -> None:
        waits.append(seconds)
        ledger.update({"idempotency_key": "k"}, {"status": "SENT"})

    notifier = SesNotifier(
        ses,
        ledger,
        lease_seconds=60,
        clock=lambda: 1000.0,
        sleep=other_sender_finishes,
    )
    assert notifier.send(MESSAGE, idempotency_key="k") is False
    assert len(waits) == 1 and sent_count() == 0
