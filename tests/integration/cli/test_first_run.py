"""A newcomer's first run: a stack without financial data says so and how to load it;
`mrbatch financials load` checks the file, loads the active region, replicates to the
other, and is safe to re-run; a folder with no stack says how to start one; a file the
stack would never process is refused by `submit` before anything is uploaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from detached import mrbatch

from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.financials import has_financials
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.runtime.wiring import open_tables


@pytest.fixture(scope="module")
def bare_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A detached stack started with no financial data, shared by this module's tests
    (the one that loads data runs last: the others need the table empty)."""
    data_dir = tmp_path_factory.mktemp("first-run") / "stack"
    started = mrbatch("up", "--detach", "--data-dir", str(data_dir))
    (data_dir / "up.out").write_text(started.stdout)
    try:
        yield data_dir
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)


def _rows(data_dir: Path, region: str) -> dict[str, dict[str, object]]:
    tables = open_tables(StackConfig.load(data_dir), region)
    try:
        return {str(item["uuid"]): item for item in tables.financials.scan()}
    finally:
        tables.close()


def test_bad_financial_file_loads_nothing(bare_stack: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("uuid,price\n123456789,1\n")
    result = mrbatch("financials", "load", str(bad), "--data-dir", str(bare_stack), check=False)
    assert result.returncode == 1
    assert "bad.csv" in result.stderr
    assert _rows(bare_stack, "us-east-1") == {}


def test_submit_refuses_a_file_the_stack_would_not_process(
    bare_stack: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("uuid\n1\n")
    result = mrbatch("submit", str(notes), "--data-dir", str(bare_stack), check=False)
    assert result.returncode == 1
    assert "input/notes.txt would be stored but never processed" in result.stderr
    assert "uploaded" not in result.stdout


def test_commands_in_a_folder_without_a_stack_say_how_to_start_one(tmp_path: Path) -> None:
    result = mrbatch("status", "--data-dir", str(tmp_path / "nothing"), check=False)
    assert result.returncode == 1
    assert "no mrbatch stack in" in result.stderr
    assert "mrbatch up --detach --data-dir" in result.stderr


def test_stack_without_financials_warns_and_load_replicates(
    bare_stack: Path, tmp_path: Path
) -> None:
    up_output = (bare_stack / "up.out").read_text()
    assert "no financial data is loaded in us-east-1" in up_output
    assert "mrbatch financials load FILE" in up_output
    config = StackConfig.load(bare_stack)
    assert not has_financials(config, "us-east-1")

    _, financials = write_sample_files(tmp_path / "fin", "f", 250, 5, 0.0)
    loaded = mrbatch("financials", "load", str(financials), "--data-dir", str(bare_stack))
    assert "loaded 250 financial rows" in loaded.stdout and "us-east-1" in loaded.stdout
    east = _rows(bare_stack, "us-east-1")
    assert len(east) == 250
    wait_until(lambda: len(_rows(bare_stack, "us-west-2")) == 250, timeout=60, what="replica")
    west = _rows(bare_stack, "us-west-2")
    some = next(iter(east))
    assert west[some]["unitsSold"] == east[some]["unitsSold"]

    again = mrbatch("financials", "load", str(financials), "--data-dir", str(bare_stack), "--json")
    assert json.loads(again.stdout)["rows"] == 250
    assert len(_rows(bare_stack, "us-east-1")) == 250  # merged by uuid: nothing doubled
