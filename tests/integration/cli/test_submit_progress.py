"""`mrbatch submit` of a large file: a progress line on a terminal, one final line (or one
JSON line) otherwise; the object arrives whole either way."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from stacktools import EAST, running_stack

from mrbatch.runtime.wiring import open_region_store

SIZE = 24 * 1024**2  # big enough for many transfer callbacks
PREFIX = "uploads/"  # stored, never processed: the test is about the upload


def _big_file(folder: Path) -> Path:
    path = folder / "big.csv"
    path.write_bytes(os.urandom(SIZE // 2).hex().encode())
    return path


def _run_in_terminal(args: list[str]) -> str:
    """Run `mrbatch args` with a pseudo-terminal as its standard output; its output."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "mrbatch.cli.app", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_submit_shows_progress_on_a_terminal_and_one_line_otherwise(tmp_path: Path) -> None:
    big = _big_file(tmp_path)
    with running_stack(tmp_path / "stack") as stack:
        args = ["submit", str(big), "--prefix", PREFIX, "--data-dir", str(stack.config.data_dir)]
        shown = _run_in_terminal(args)
        piped = subprocess.run(
            [sys.executable, "-m", "mrbatch.cli.app", *args],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        as_json = subprocess.run(
            [sys.executable, "-m", "mrbatch.cli.app", *args, "--json"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        info, body = open_region_store(stack.config, EAST).get(f"{PREFIX}big.csv")
        with body:
            assert body.read() == big.read_bytes()

    frames = [f for f in shown.replace("\r\n", "\n").split("\r") if "MiB /" in f]
    assert len(frames) >= 2, shown  # drawn when the upload starts, redrawn as it goes
    assert frames[0].strip().startswith("big.csv    0.0 MiB / 24.0 MiB    0%")
    assert frames[-1].strip().startswith("big.csv   24.0 MiB / 24.0 MiB  100%")
    assert f"uploaded {big} -> {PREFIX}big.csv (etag " in shown.splitlines()[-1]

    assert "\r" not in piped.stdout and "MiB" not in piped.stdout
    assert piped.stdout.splitlines() == [f"uploaded {big} -> {PREFIX}big.csv (etag {info.etag})"]
    assert as_json.stdout.count("\n") == 1
    assert json.loads(as_json.stdout) == [
        {"path": str(big), "key": f"{PREFIX}big.csv", "etag": info.etag}
    ]
