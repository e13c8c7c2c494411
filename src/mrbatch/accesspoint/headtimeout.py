"""A deadline for receiving a request's head (request line and headers), which uvicorn lacks.

uvicorn closes idle keep-alive connections, but a client that opens a connection and then
sends nothing, or sends its head a byte at a time, holds the connection (and its memory) for
as long as it likes: the slow-socket attack. The usual servers bound this (nginx's
`client_header_timeout`, Apache's `RequestReadTimeout header=`); uvicorn has no option for it,
so this is its h11 protocol with one timer added:

- armed when a connection opens, and when the first bytes of a next request arrive on a
  kept-alive connection;
- disarmed as soon as h11 has parsed a complete head (the request then belongs to the app,
  and a body may take as long as it takes);
- on expiry, the connection is closed without an answer (nginx does the same; the client
  has not sent a request to answer). The deadline counts from the first byte, not from the
  last, so trickling bytes does not extend it.

Built on `uvicorn.protocols.http.h11_impl.H11Protocol` (its `conn`, `loop` and `transport`
attributes and its `data_received`), which uvicorn's own `http="h11"` setting selects.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_HEAD_TIMEOUT", "HeadTimeoutH11Protocol", "with_head_timeout"]

DEFAULT_HEAD_TIMEOUT = 10.0


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete
    `head_timeout` seconds after the connection opened or the request's first byte came."""

    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is complete (or the connection failed)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadTimeoutH11Protocol]:
    """The protocol class to give uvicorn (`uvicorn.Config(http=...)`) for a deadline of
    `seconds` on every request head.

    >>> with_head_timeout(2.5).head_timeout
    2.5
    """
    if seconds <= 0:
        raise ValueError(f"the head timeout must be positive, not {seconds}")

    class _Protocol(HeadTimeoutH11Protocol):
        head_timeout = seconds

    return _Protocol
