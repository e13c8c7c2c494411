"""`SesNotifier`: email through Amazon SES (SESv2 `SendEmail`), at most once per key.

Lambda functions cannot send on port 25, and SES's API needs no SMTP credentials: the
function's role is enough. The message is the same MIME message the SMTP notifier sends
(`build_message`: its Message-ID and `X-Mrbatch-Idempotency-Key` derive from the key),
sent as raw content.

Idempotency: a ledger table (one item per idempotency key) is written conditionally, as
Powertools' idempotency layer does:

1. claim: create the item as SENDING with a fresh token, only if absent;
2. send through SES;
3. record: SENT, with SES's message id, only while the claim is still ours.

A key already SENT sends nothing (False). A key another caller is SENDING is waited for
(its SENT means False; its released claim means we claim again). A refused message
releases the claim, so a retry may send it. A claim whose holder died is taken over once
it is older than `lease_seconds`.

What can still send twice, and how rarely:
- a crash (or timeout) after SES accepted the message and before step 3: the claim stays
  SENDING and a retry after the lease sends again. The window is one SES API round trip.
- across regions, when the ledger is a global table replicated asynchronously: two
  regions that both pass their fence check and claim the same key within the ledger's
  replication lag (typically under a second) both send. Only the region active under the
  file's current epoch may send, so this needs a failover during the email step *and* the
  new region finishing the whole file (split, chunks, merge) before the old claim
  replicates. With the ledger in a multi-Region strongly consistent table, this window
  is gone and only the first remains.
Either duplicate carries the same Message-ID and idempotency header, so a recipient's
mail system (or a human) can recognise it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from mrbatch.errors import ConditionFailedError, MailError
from mrbatch.notify.smtp import MAX_MESSAGE_BYTES, build_message
from mrbatch.ports import Condition, OutgoingEmail, Table
from mrbatch.state.schema import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["MAIL_LEDGER", "SesNotifier"]

MAIL_LEDGER = TableSpec("mail_ledger", ("idempotency_key",), ("S",))
"""The ledger: one item per idempotency key, SENDING (claimed) or SENT."""
_SENDING, _SENT = "SENDING", "SENT"
_POLL_FIRST, _POLL_MAX = 0.05, 1.0


class SesNotifier:
    """`Notifier` over the SESv2 client `client`, with its ledger in `ledger` (a Table with
    the `MAIL_LEDGER` shape; on AWS a DynamoDB global table). `sleep` waits between looks at
    a claim another caller holds; `clock` dates the claims."""

    def __init__(
        self,
        client: SESV2Client,
        ledger: Table,
        *,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._sleep = sleep

    def send(self, message: OutgoingEmail, *, idempotency_key: str) -> bool:
        """See `mrbatch.ports.Notifier.send`."""
        if not idempotency_key:
            raise MailError("an idempotency key is required to send email")
        raw = build_message(message, idempotency_key=idempotency_key).as_bytes()
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MailError(f"email {message.subject!r} is {len(raw)} bytes, too large")
        token = self._claim(idempotency_key)
        if token is None:
            return False
        try:
            message_id = self._deliver(raw, message)
        except MailError:
            self._release(idempotency_key, token)
            raise
        self.ledger.update(
            {"idempotency_key": idempotency_key},
            {"status": _SENT, "message_id": message_id, "sent_at": self._clock()},
            condition=Condition(equals={"token": token}),
        )
        return True

    def was_sent(self, idempotency_key: str) -> bool:
        """Whether the ledger says a message with this key was sent."""
        item = self.ledger.get({"idempotency_key": idempotency_key})
        return item is not None and item.get("status") == _SENT

    def _claim(self, key: str) -> str | None:
        """Our claim's token, or None when the key is SENT. Waits while another caller's
        fresh claim is SENDING."""
        token, stalls = uuid.uuid4().hex, 0
        while True:
            fresh = {"status": _SENDING, "token": token, "claimed_at": self._clock()}
            try:
                self.ledger.put(
                    {"idempotency_key": key, **fresh}, condition=Condition(absent=("status",))
                )
                return token
            except ConditionFailedError:
                pass
            held = self.ledger.get({"idempotency_key": key})
            if held is None:
                continue  # released meanwhile: claim again
            if held.get("status") == _SENT:
                return None
            if float(held["claimed_at"]) < self._clock() - self.lease_seconds:
                if self._take_over(key, held, fresh):
                    return token
                continue
            self._sleep(min(_POLL_MAX, _POLL_FIRST * 2**stalls))
            stalls += 1

    def _take_over(self, key: str, held: dict[str, Any], fresh: dict[str, Any]) -> bool:
        """Replace a stale claim (its holder died mid-send) with ours; False if it moved."""
        try:
            self.ledger.update(
                {"idempotency_key": key},
                fresh,
                condition=Condition(equals={"token": held["token"], "status": _SENDING}),
            )
            return True
        except ConditionFailedError:
            return False

    def _release(self, key: str, token: str) -> None:
        """Drop our claim after a refused send, so a retry may send."""
        # ConditionFailedError: our lease expired and someone took the claim over: theirs
        with contextlib.suppress(ConditionFailedError):
            self.ledger.delete(
                {"idempotency_key": key}, condition=Condition(equals={"token": token})
            )

    def _deliver(self, raw: bytes, message: OutgoingEmail) -> str:
        try:
            response = self.client.send_email(
                FromEmailAddress=message.sender,
                Destination={"ToAddresses": list(message.recipients)},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise MailError(
                f"SES refused the message: {error.get('Code', '')} {error.get('Message', '')}"
            ) from exc
        except BotoCoreError as exc:
            raise MailError(f"SES could not be reached: {exc}") from exc
        return str(response["MessageId"])
