"""Every terminal status of a main orchestrator execution is recorded on the file: the
engine's execution-end listener (locally what an EventBridge rule on Step Functions
execution status changes is on AWS) marks the file FAILED and emails the owner once,
except when the region's own fencing stopped the run (the new active region re-drives)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mrbatch.asl.definition import JsonValue
from mrbatch.notify.sink import read_mailbox
from mrbatch.runtime.operations.local_run import LocalRun

EMAIL_FUNCTION = "mrbatch-email-the-file"
MERGE_FUNCTION = "mrbatch-merge-all-files"


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _boom(event: JsonValue) -> JsonValue:
    raise RuntimeError("the email step crashed")


def test_uncaught_error_leaves_the_file_failed_with_one_failure_email(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    """The email step has no Catch for this error: the execution fails outside any Catch,
    so "Record the failed file" never runs; the listener records it."""
    source, fin = sample_300
    with LocalRun(tmp_path / "region", fin, chunk_size=100) as run:
        run.engine.resources.register_function(EMAIL_FUNCTION, _boom, in_process=True)
        outcome = run.process(source)
        assert (outcome.status, outcome.error) == ("FAILED", "RuntimeError")

        def record() -> dict[str, JsonValue]:
            item = run.region.batch_state.get({"file_id": outcome.file_id})
            assert item is not None
            return item

        _wait(lambda: record()["status"] == "FAILED", "the file to be FAILED")
        run.engine.close()  # the listeners have finished once the engine is closed
        item = record()
        assert item["error"] == "RuntimeError"
        assert "the email step crashed" in str(item["cause"])
    mail = read_mailbox(tmp_path / "region" / "mail")
    assert [m["Subject"] for m in mail] == [f"mrbatch: {source.name} failed"]
    body = mail[0].get_content()
    assert "RuntimeError" in body and "the email step crashed" in body


def test_caught_failure_sends_one_email_not_two(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    """A failure the orchestrator catches ("Record the failed file", then the Fail state)
    ends the execution FAILED too: the file is FAILED and the owner gets one email."""
    _source, fin = sample_300
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n1,a\n")
    with LocalRun(tmp_path / "region", fin, chunk_size=10) as run:
        outcome = run.process(bad)
        run.engine.close()
        item = run.region.batch_state.get({"file_id": outcome.file_id})
    assert outcome.status == "FAILED" and item is not None and item["status"] == "FAILED"
    mail = read_mailbox(tmp_path / "region" / "mail")
    assert [m["Subject"] for m in mail] == ["mrbatch: bad.csv failed"]


def test_fencing_abort_leaves_the_file_to_the_new_region(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    """A run the region stopped because it lost activation (mrbatch.RegionNotActive) is
    not a failed file: the new active region re-drives it, so no FAILED and no email."""
    source, fin = sample_300
    with LocalRun(tmp_path / "region", fin, chunk_size=100) as run:
        started: list[str] = []

        def stop_at_merge(event: JsonValue) -> JsonValue:
            arn = started[0]
            run.engine.stop_execution(arn, error="mrbatch.RegionNotActive", cause="fenced")
            raise RuntimeError("stopped")

        run.engine.resources.register_function(MERGE_FUNCTION, stop_at_merge, in_process=True)
        original = run.engine.start_execution

        def start(*args: object, **kwargs: object) -> str:
            arn = original(*args, **kwargs)  # type: ignore[arg-type]
            started.append(arn)
            return arn

        run.engine.start_execution = start  # type: ignore[method-assign]
        outcome = run.process(source)
        run.engine.close()
        item = run.region.batch_state.get({"file_id": outcome.file_id})
    assert outcome.status == "ABORTED" and outcome.error == "mrbatch.RegionNotActive"
    assert item is not None and item["status"] == "RUNNING"
    assert read_mailbox(tmp_path / "region" / "mail") == []
