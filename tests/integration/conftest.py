"""Every integration test leaves no process behind, whatever happened to it.

A test starts real processes (a stack's services, a detached `mrbatch up`, a drill) in its
own temporary directory. When the test fails half-way, or a command it ran was killed on a
timeout, those processes would outlive it and load the machine for the tests after it. So
after each test, any process still running whose command line names the test's temporary
directory is killed (SIGKILL: nothing of the test's is worth a clean stop any more).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest


def _processes_naming(folder: str) -> list[int]:
    """Pids of this machine's processes whose command line contains `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if folder in command:
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def _no_process_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in _processes_naming(f"{tmp_path}{os.sep}"):  # test_x1/ is not test_x10/
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
