"""Supervision of a detached stack: a service that cannot restart is retried with backoff
and reported by `status`, while every other service keeps running."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from detached import (
    alive,
    detached_stack,
    kill_service,
    mrbatch,
    sample_financials,
    stack_record,
    status,
)

from mrbatch.runtime.services.supervisor import wait_until


@contextmanager
def squat(port: int, timeout: float = 10.0) -> Iterator[socket.socket]:
    """Listen on 127.0.0.1:`port` as some other local program would, as soon as the port is
    free (a killed process releases it a moment after the kill)."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT only

    def bound() -> bool:
        try:
            squatter.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

    try:
        wait_until(bound, timeout=timeout, interval=0.005, what=f"port {port} to be free")
        squatter.listen()
        yield squatter
    finally:
        squatter.close()


def _service(data_dir: Path, name: str) -> dict[str, Any]:
    """What `mrbatch status --json` says about one service; fails at once when the stack
    has stopped (there is nothing left to wait for)."""
    stack = status(data_dir)["stack"]
    assert stack is not None, "the whole stack stopped"
    service: dict[str, Any] = stack.get("services", {}).get(name, {})
    return service


def test_gateway_returns_on_its_port_when_the_port_was_taken_during_restart(
    tmp_path: Path,
) -> None:
    _, financials = sample_financials(tmp_path / "sample")
    with detached_stack(tmp_path / "stack", financials) as data_dir:
        before = stack_record(data_dir)
        url = before["gateway"]
        others = {name: int(pid) for name, pid in before["pids"].items() if name != "gateway"}
        killed = kill_service(data_dir, "gateway")
        with squat(int(url.rsplit(":", 1)[1])):
            wait_until(
                lambda: _service(data_dir, "gateway").get("failures", 0) >= 2,
                timeout=60,
                what="status to report the gateway's failed restarts",
            )
            gateway = _service(data_dir, "gateway")
            assert gateway["state"] in ("failing", "starting")
            assert "Address already in use" in gateway["last_error"]
            shown = mrbatch("status", "--data-dir", str(data_dir)).stdout
            assert "service gateway: " in shown and "Address already in use" in shown
            assert {name: alive(pid) for name, pid in others.items()} == dict.fromkeys(others, True)
            assert stack_record(data_dir)["supervisor_pid"] == before["supervisor_pid"]

        wait_until(
            lambda: _service(data_dir, "gateway").get("state") == "running",
            timeout=60,
            what="the gateway to come back once the port is free",
        )
        after = stack_record(data_dir)
        assert after["gateway"] == url
        assert int(after["pids"]["gateway"]) not in (killed, 0)
        answer = httpx.get(f"{url}/{after['bucket']}?list-type=2", timeout=30)
        assert answer.status_code == 403  # the gateway itself: unsigned requests are refused
        assert b"<Code>AccessDenied</Code>" in answer.content
        assert {name: int(after["pids"][name]) for name in others} == others
        assert all(alive(pid) for pid in others.values())
