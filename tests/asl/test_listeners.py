"""Execution listeners: the local stand-in for EventBridge's "Step Functions Execution
Status Change" events, delivered at least once for every terminal status."""

from __future__ import annotations

import threading
from pathlib import Path

from mrbatch.asl import Engine, ExecutionRecord

FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}
OK = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_listener_hears_every_terminal_status_once(tmp_path: Path) -> None:
    """AWS (EventBridge): Step Functions emits an "Execution Status Change" event when an
    execution's status changes to SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""
    heard: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()

    def listen(record: ExecutionRecord) -> None:
        with lock:
            heard.append((record.name, record.status.value, record.error))

    with Engine(tmp_path / "wf.db", listeners=[listen]) as engine:
        ok, fail = engine.create_state_machine("ok", OK), engine.create_state_machine("f", FAIL)
        engine.wait_for(engine.start_execution(ok, {}, name="a"), timeout=10)
        engine.wait_for(engine.start_execution(fail, {}, name="b"), timeout=10)
    assert sorted(heard) == [("a", "SUCCEEDED", None), ("b", "FAILED", "E")]


def test_listener_that_raised_is_called_again_by_the_next_engine(tmp_path: Path) -> None:
    """Delivery is at least once: the end is queued in the same transaction as the final
    status, and stays queued until every listener returned."""
    calls: list[str] = []

    def broken(record: ExecutionRecord) -> None:
        calls.append("broken")
        raise RuntimeError("listener down")

    with Engine(tmp_path / "wf.db", listeners=[broken]) as engine:
        arn = engine.create_state_machine("f", FAIL)
        engine.wait_for(engine.start_execution(arn, {}, name="b"), timeout=10)
    heard: list[str] = []
    with Engine(tmp_path / "wf.db", listeners=[lambda r: heard.append(r.name)]):
        pass
    with Engine(tmp_path / "wf.db", listeners=[lambda r: heard.append(r.name)]):
        pass
    # (the closing engine may have tried once more meanwhile: it backs off, then retries)
    assert calls and set(calls) == {"broken"} and heard == ["b"]


def test_listener_that_raised_is_called_again_while_the_engine_runs(tmp_path: Path) -> None:
    """A listener whose own dependency is down (the file's table, during an outage) must
    not leave the end unreported until a restart: the same engine calls it again, backing
    off, until it returns."""
    attempts: list[str] = []
    delivered = threading.Event()

    def recovering(record: ExecutionRecord) -> None:
        attempts.append(record.name)
        if len(attempts) < 3:
            raise RuntimeError("state tables unreachable")
        delivered.set()

    with Engine(tmp_path / "wf.db", listeners=[recovering]) as engine:
        arn = engine.create_state_machine("f", FAIL)
        engine.wait_for(engine.start_execution(arn, {}, name="b"), timeout=10)
        assert delivered.wait(timeout=30), attempts  # after 1 s and 2 s of back-off
    assert attempts == ["b", "b", "b"]
    heard: list[str] = []
    with Engine(tmp_path / "wf.db", listeners=[lambda r: heard.append(r.name)]):
        pass
    assert heard == []  # delivered: nothing left for the next engine
