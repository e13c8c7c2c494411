"""`load_financials_file` on a stack's data directory (no process needed: the tables are
files): what is stored for each row, merging by uuid, batches, and bad files loading nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mrbatch.errors import InputFileError
from mrbatch.pipeline.columns import FINANCIAL_COLUMNS
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.financials import load_financials_file
from mrbatch.runtime.wiring import open_tables

EAST = "us-east-1"
HEADER = ",".join(FINANCIAL_COLUMNS)


def _items(config: StackConfig) -> dict[str, dict[str, object]]:
    tables = open_tables(config, EAST)
    try:
        return {str(item["uuid"]): item for item in tables.financials.scan()}
    finally:
        tables.close()


def test_rows_are_stored_as_the_csv_module_reads_them_merged_by_uuid(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path / "stack")
    tables = open_tables(config, EAST)
    tables.financials.put({"uuid": "kept", "unitsSold": "1"})
    tables.financials.put({"uuid": "300", "unitsSold": "old"})
    tables.close()
    text = (
        f"{HEADER}\n"
        "300,1,2.5,3,4,5,6\n"
        '100,"1,5","say ""hi""","two\nlines",é,\\,\t\n'
        "200,7,8\n"  # missing trailing fields: empty values
    )
    path = tmp_path / "fin.csv"
    path.write_text(text, encoding="utf-8")
    report = load_financials_file(config, path)
    assert (report.region, report.rows) == (EAST, 3)
    with path.open(newline="", encoding="utf-8") as handle:
        _, *rows = csv.reader(handle)
    expected = {
        row[0]: dict(zip(FINANCIAL_COLUMNS, row + [""] * (7 - len(row)), strict=True))
        for row in rows
    }
    assert _items(config) == {**expected, "kept": {"uuid": "kept", "unitsSold": "1"}}


def test_batches_commit_in_file_order_and_the_last_written_uuid_is_reported(
    tmp_path: Path,
) -> None:
    config = StackConfig(data_dir=tmp_path / "stack")
    uuids = ["9", "3", "7", "1", "5"]  # batches of two: (9, 3), (7, 1), (5)
    path = tmp_path / "fin.csv"
    path.write_text(HEADER + "\n" + "".join(f"{u},1,1,1,1,1,1\n" for u in uuids))
    seen: list[tuple[int, int, set[str]]] = []
    report = load_financials_file(
        config,
        path,
        batch_rows=2,
        progress=lambda written, total: seen.append((written, total, set(_items(config)))),
    )
    assert seen == [
        (0, 5, set()),
        (2, 5, {"9", "3"}),
        (4, 5, {"9", "3", "7", "1"}),
        (5, 5, set(uuids)),
    ]
    assert (report.rows, report.last_uuid) == (5, "5")
    tables = open_tables(config, EAST)
    last = tables.financials.changes_since(0)[-1]
    tables.close()
    assert last.key == {"uuid": report.last_uuid}  # what wait_for_financials waits for


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"{HEADER}\n1,1,1,1,1,1,1\n2,1,1,1,1,1,1\n1,2,2,2,2,2,2\n", "uuid 1 appears more"),
        ("uuid,price\n1,2\n", "the header must be"),
        ("", "the file is empty"),
    ],
)
def test_a_bad_file_loads_nothing_and_says_why(tmp_path: Path, content: str, message: str) -> None:
    config = StackConfig(data_dir=tmp_path / "stack")
    path = tmp_path / "fin.csv"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message):
        load_financials_file(config, path, batch_rows=1)
    assert _items(config) == {}


def test_start_up_load_whose_replica_lags_is_logged_and_keeps_the_stack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`up --financials`: no replicator runs here, so the standby never catches up; start-up
    must warn and go on (it used to raise, and the supervisor tore the stack down)."""
    from dataclasses import replace

    from mrbatch.runtime.services.stack import _load_configured_financials

    path = tmp_path / "fin.csv"
    path.write_text(f"{HEADER}\n1,1,1,1,1,1,1\n2,2,2,2,2,2,2\n", encoding="utf-8")
    config = replace(StackConfig(data_dir=tmp_path / "stack"), extra={"financials": str(path)})
    with caplog.at_level("WARNING", logger="mrbatch.runtime.services.stack"):
        _load_configured_financials(config, replica_wait=0.3)
    assert set(_items(config)) == {"1", "2"}
    assert "not all in the standby" in caplog.text
