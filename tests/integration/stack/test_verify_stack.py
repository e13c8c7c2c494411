"""`mrbatch verify` against a real stack: a processed file passes the whole contract
(outputs compared with `mrbatch process`, the emailed link fetched), and a broken stack
(an output removed from one region, then a record stuck RUNNING) is reported, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacktools import EAST, WEST, Stack, running_stack

from mrbatch.runtime.operations.audit import verify_stack
from mrbatch.runtime.wiring import open_region_store, open_tables


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack") as running:
        yield running


def _verify_cli(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrbatch.cli.app", "verify", "--json",
         "--data-dir", str(stack.config.data_dir)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_a_processed_file_passes_and_a_broken_stack_is_reported(stack: Stack) -> None:
    stack.upload("input/checked.csv", (stack.sample_dir / "testfile.csv").read_bytes())
    file_id = stack.file_id("input/checked.csv")
    for region in (EAST, WEST):
        stack.wait_status(region, file_id, "COMPLETED")
    stack.wait_settled()
    item = stack.item(EAST, file_id)
    assert item is not None
    west = open_region_store(stack.config, WEST)
    stack.wait(lambda: any(i.key == item["output"] for i in west.list("output/")), "replica")
    assert verify_stack(stack.config) == []
    assert _verify_cli(stack).returncode == 0

    west.delete(str(item["output"]))  # the output lost in one region
    assert {(v.kind, v.file_id) for v in verify_stack(stack.config, deep=False)} == {
        ("output", file_id)
    }
    tables = open_tables(stack.config, WEST)
    try:  # stranded: the record says RUNNING (and replicates so to the other region)
        tables.batch_state.update({"file_id": file_id}, {"status": "RUNNING"})
    finally:
        tables.close()
    stack.wait_status(EAST, file_id, "RUNNING")
    assert {(v.kind, v.file_id) for v in verify_stack(stack.config, deep=False)} == {
        ("lost", file_id)
    }
    reported = _verify_cli(stack)
    assert reported.returncode == 1
    assert {v["kind"] for v in json.loads(reported.stdout)["violations"]} == {"lost"}
