"""`--help` on an 80-column terminal: every option's full name, and no value shown for a
flag (Typer's rich help printed `--detach <bool>` and cut `--max-files-in-flight` to
`--max-files-in-f…`, an option nobody could then type)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _help(*command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "80", "TERM": "xterm"},
    )
    return result.stdout


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            ["up"],
            [
                "--max-files-in-flight",
                "--replication-delay",
                "--failure-threshold",
                "--auto-failover / --no-auto-failover",
            ],
        ),
        (["chaos", "kill"], ["--main-only"]),
    ],
)
def test_every_option_is_shown_whole(command: list[str], options: list[str]) -> None:
    text = _help(*command)
    for option in options:
        assert option in text, text
    assert "…" not in text


@pytest.mark.parametrize("command", [[], ["up"], ["verify"], ["chaos", "block"]])
def test_a_flag_shows_no_value(command: list[str]) -> None:
    assert "<bool>" not in _help(*command)


@pytest.mark.parametrize("command", [["process"], ["run-local"]])
def test_chunk_size_is_explained(command: list[str]) -> None:
    lines = [line for line in _help(*command).splitlines() if "--chunk-size" in line]
    assert lines and "Records per chunk." in lines[0]


def test_loadtest_says_what_it_leaves_in_the_stack() -> None:
    # It merges a sample's financial data into the user's own stack: say so before it runs.
    text = " ".join(_help("loadtest").split())
    assert "loads a generated sample's financial data into it" in text
    assert "Use a stack of its own" in text
