"""A running stack, as a user meets it: `up` tells how to stop it in the directory it
actually runs in, and `demo`/`drill`, which wipe their --data-dir for a fresh stack,
refuse the directory of a running one instead of deleting its state under it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from detached import mrbatch

from mrbatch.pipeline.sample import write_sample_files


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A detached stack in a non-default directory, and what `up` printed."""
    data_dir = tmp_path_factory.mktemp("running") / "stack"
    try:
        started = mrbatch("up", "--detach", "--data-dir", str(data_dir))
        yield data_dir, started.stdout
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)


def _supervisor_alive(data_dir: Path) -> bool:
    pid = int(json.loads((data_dir / "stack.json").read_text())["supervisor_pid"])
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_up_names_the_data_dir_in_its_stop_hint(running: tuple[Path, str]) -> None:
    # Before: "`mrbatch down` stops it", which looks in ./.mrbatch and finds no stack.
    data_dir, printed = running
    assert f"`mrbatch down --data-dir {data_dir}` stops it" in printed


def test_a_second_up_names_the_data_dir_in_its_hint(running: tuple[Path, str]) -> None:
    data_dir, _ = running
    result = mrbatch("up", "--detach", "--data-dir", str(data_dir), check=False)
    assert result.returncode == 1, result
    assert f"`mrbatch down --data-dir {data_dir}` first" in result.stderr


@pytest.mark.parametrize("command", ["demo", "drill"])
def test_demo_and_drill_refuse_the_directory_of_a_running_stack(
    running: tuple[Path, str], command: str
) -> None:
    # Before: the directory (a stack's config.json counts as "a previous demo's") was
    # deleted under the running stack, and a second stack started in it.
    data_dir, _ = running
    result = mrbatch(command, "--data-dir", str(data_dir), check=False)
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: a stack is running in {data_dir}")
    assert f"mrbatch down --data-dir {data_dir}" in lines[0]
    assert (data_dir / "config.json").exists()
    assert _supervisor_alive(data_dir)


def test_submit_outside_input_notes_that_the_file_will_not_be_processed(
    running: tuple[Path, str], tmp_path: Path
) -> None:
    # Before: "uploaded ... -> other/orders.csv" and nothing else; the file then waited for a
    # processing that never comes.
    data_dir, _ = running
    data, _ = write_sample_files(tmp_path, "orders", 5, 1, 0.0)
    args = ["submit", str(data), "--prefix", "other/", "--data-dir", str(data_dir)]
    result = mrbatch(*args)
    assert result.stdout.startswith(f"uploaded {data} -> other/orders.csv")
    assert result.stderr.splitlines() == [
        "note: keys under 'other/' are stored and replicated but never processed;"
        " only keys under 'input/' are (the default --prefix)"
    ]
    processed = mrbatch("submit", str(data), "--data-dir", str(data_dir))
    assert processed.stderr == ""
