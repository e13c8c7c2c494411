"""A stack started as a user starts it (`mrbatch up --detach`) and the helpers the
supervision tests use on it: run a command, read `status`, find and kill a service.
Imported by the CLI and supervision tests (on pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mrbatch.pipeline.sample import write_sample_files


def mrbatch(
    *args: str, check: bool = True, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `mrbatch ARGS` as a user would (in `cwd`, default this process's directory);
    raises on a non-zero exit when `check`."""
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        cwd=cwd,
    )


def alive(pid: int) -> bool:
    """Whether a process with this pid runs (a zombie nobody reaped yet does not)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def status(data_dir: Path) -> dict[str, Any]:
    """`mrbatch status --json`."""
    report: dict[str, Any] = json.loads(
        mrbatch("status", "--data-dir", str(data_dir), "--json").stdout
    )
    return report


def stack_record(data_dir: Path) -> dict[str, Any]:
    """The running stack's `stack.json` (pids, endpoints, service states)."""
    record: dict[str, Any] = json.loads((data_dir / "stack.json").read_text())
    return record


def kill_service(data_dir: Path, name: str) -> int:
    """SIGKILL the process group of service `name` (as a crash would); returns its pid."""
    pid = int(stack_record(data_dir)["pids"][name])
    os.killpg(pid, signal.SIGKILL)
    return pid


def sample_financials(folder: Path, rows: int = 300) -> tuple[Path, Path]:
    """A sample input of `rows` rows and its financial data, in `folder`."""
    return write_sample_files(folder, "cli", rows, 3, 0.0)


@contextmanager
def detached_stack(data_dir: Path, financials: Path, *options: str) -> Iterator[Path]:
    """`mrbatch up --detach` in `data_dir`; on exit `mrbatch down`, then SIGKILL of any
    process of the stack still alive, so that no test leaves one behind."""
    mrbatch(
        "up", "--detach", "--data-dir", str(data_dir), "--financials", str(financials),
        "--chunk-size", "100", *options,
    )  # fmt: skip
    seen: set[int] = set()
    try:
        yield data_dir
    finally:
        with contextlib.suppress(OSError, ValueError, KeyError):
            record = stack_record(data_dir)
            seen |= {int(record["supervisor_pid"]), *map(int, record["pids"].values())}
        mrbatch("down", "--data-dir", str(data_dir), check=False)
        for pid in seen:
            if alive(pid):
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
