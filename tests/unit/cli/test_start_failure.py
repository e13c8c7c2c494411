"""What a detached `up` says when its stack fails to start: the reason, found where the
supervisor and the failed service logged it, not only "see supervisor.log"."""

from __future__ import annotations

from pathlib import Path

from mrbatch.cli.stack_commands import _start_failure


def test_the_reason_is_the_supervisor_line_of_this_start_and_the_service_s_last_line(
    tmp_path: Path,
) -> None:
    service_log = tmp_path / "run" / "gateway.log"
    service_log.parent.mkdir()
    service_log.write_text(
        "Traceback (most recent call last):\n"
        "mrbatch.errors.MrBatchError: cannot listen on 127.0.0.1:8080: Address already in use\n"
    )
    log = tmp_path / "supervisor.log"
    earlier = "error: us-east-1 exited with code 1 during start-up; see /old/us-east-1.log\n"
    log.write_text(earlier)
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write("starting the stack ...\n")
        handle.write(f"error: gateway exited with code 1 during start-up; see {service_log}\n")
    assert _start_failure(log, offset) == (
        f"the stack failed to start: gateway exited with code 1 during start-up; see"
        f" {service_log}: cannot listen on 127.0.0.1:8080: Address already in use"
    )


def test_without_an_error_line_of_this_start_it_points_at_the_log(tmp_path: Path) -> None:
    log = tmp_path / "supervisor.log"
    log.write_text("error: an older start's failure; see /old.log\n")
    assert _start_failure(log, log.stat().st_size) == f"the stack failed to start; see {log}"
    assert _start_failure(tmp_path / "missing.log", 0).endswith("missing.log")
