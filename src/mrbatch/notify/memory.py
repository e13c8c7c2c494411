"""`MemoryNotifier`: the `Notifier` port in memory, for tests of the handlers."""

from __future__ import annotations

import threading

from mrbatch.ports import OutgoingEmail

__all__ = ["MemoryNotifier"]


class MemoryNotifier:
    """Keeps what it is asked to send, at most once per idempotency key (same rule as the
    SMTP notifier's ledger).

    >>> notifier = MemoryNotifier()
    >>> message = OutgoingEmail("a@x", ("b@x",), "Done", "body")
    >>> notifier.send(message, idempotency_key="f#v1")
    True
    >>> notifier.send(message, idempotency_key="f#v1")
    False
    """

    def __init__(self) -> None:
        self.sent: dict[str, OutgoingEmail] = {}
        self._lock = threading.Lock()

    def send(self, message: OutgoingEmail, *, idempotency_key: str) -> bool:
        """See `mrbatch.ports.Notifier.send`."""
        with self._lock:
            if idempotency_key in self.sent:
                return False
            self.sent[idempotency_key] = message
            return True
