"""The request-head deadline, with real sockets against a real uvicorn server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mrbatch.accesspoint import GatewayServer

HEAD_TIMEOUT = 0.5
DEADLINE = 5.0  # the server must have closed the connection long before this


async def _echo(request: Request) -> Response:
    return Response(await request.body())


@pytest.fixture
def server() -> Iterator[GatewayServer]:
    app = Starlette(routes=[Route("/echo", _echo, methods=["GET", "POST"])])
    with GatewayServer(app, head_timeout=HEAD_TIMEOUT) as running:
        yield running


def _connect(server: GatewayServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=DEADLINE)


def _seconds_until_closed(sock: socket.socket) -> float:
    """Read until the server closes the connection; how long that took. Fails (socket
    timeout) if the server holds the connection open past DEADLINE."""
    started = time.monotonic()
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, read from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_partial_head_is_closed_after_the_timeout_while_others_are_served(
    server: GatewayServer,
) -> None:
    with _connect(server) as slow:
        slow.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
        served = httpx.post(f"{server.url}/echo", content=b"meanwhile")
        assert (served.status_code, served.content) == (200, b"meanwhile")
        waited = _seconds_until_closed(slow)
    assert waited < DEADLINE


def test_connection_that_sends_nothing_is_closed_after_the_timeout(server: GatewayServer) -> None:
    with _connect(server) as idle:
        started = time.monotonic()
        _seconds_until_closed(idle)
        assert time.monotonic() - started >= HEAD_TIMEOUT * 0.9


def test_partial_second_head_on_a_kept_alive_connection_is_closed(server: GatewayServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nok")
        assert _read_response(sock).endswith(b"\r\n\r\nok")
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.")
        assert _seconds_until_closed(sock) < DEADLINE


def test_complete_head_is_not_cut_off_while_its_body_is_slow(server: GatewayServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab")
        # Wait past the head timeout: the connection must stay open (no answer, no close).
        sock.settimeout(HEAD_TIMEOUT * 3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(DEADLINE)
        sock.sendall(b"cd")
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"\r\n\r\nabcd")
