"""The overview's invalid rows by rule: exact after rewrites, deletes and replicas, and a
poll reads only the file versions written since the previous poll."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mrbatch.dashboard.rulecounts import RuleCounts
from mrbatch.state.sqlite import RegionTables, SqliteTable, TableChange, open_region_tables

A, B = "input/a.csv#v1", "input/b.csv#v1"


class CountingTable:
    """The error table, counting the rows each poll reads."""

    def __init__(self, table: SqliteTable) -> None:
        self.table = table
        self.rows_read = 0
        self.files_queried: list[str] = []

    def changes_since(self, cursor: int = 0, *, limit: int = 500) -> list[TableChange]:
        page = self.table.changes_since(cursor, limit=limit)
        self.rows_read += len(page)
        return page

    def query(self, index: str, value: Any) -> Iterator[Mapping[str, Any]]:
        self.files_queried.append(value)
        for item in self.table.query(index, value):
            self.rows_read += 1
            yield item


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[RegionTables]:
    tables = open_region_tables(tmp_path / "east.db", origin="us-east-1")
    yield tables
    tables.close()


def _error(file_id: str, row: int, rule: str) -> dict[str, Any]:
    return {"file_id": file_id, "row": row, "rule": rule, "message": "bad"}


def test_poll_reads_only_rows_written_since_the_last_poll_when_the_table_is_large(
    tables: RegionTables,
) -> None:
    tables.errors.put_many([_error(A, row, "format") for row in range(1, 1001)])
    counting, counts = CountingTable(tables.errors), RuleCounts()
    assert counts.refresh(counting) == {"format": 1000}

    counting.rows_read, counting.files_queried = 0, []
    tables.errors.put(_error(B, 7, "pattern"))
    assert counts.refresh(counting) == {"format": 1000, "pattern": 1}
    assert counting.files_queried == [B]
    assert counting.rows_read == 2  # B's one change in the feed, then B's one row

    counting.rows_read, counting.files_queried = 0, []
    assert counts.refresh(counting) == {"format": 1000, "pattern": 1}
    assert (counting.rows_read, counting.files_queried) == (0, [])


def test_counts_stay_exact_when_rows_are_rewritten_deleted_or_replicated(
    tables: RegionTables, tmp_path: Path
) -> None:
    counts = RuleCounts()
    tables.errors.put_many([_error(A, 1, "format"), _error(A, 2, "format")])
    assert counts.refresh(tables.errors) == {"format": 2}
    tables.errors.put(_error(A, 1, "format"))  # a re-driven chunk writes its rows again
    tables.errors.put(_error(A, 2, "pattern"))
    assert counts.refresh(tables.errors) == {"format": 1, "pattern": 1}
    tables.errors.delete({"file_id": A, "row": 1})
    assert counts.refresh(tables.errors) == {"pattern": 1}

    west = open_region_tables(tmp_path / "west.db", origin="us-west-2")
    try:
        west.errors.put(_error(B, 3, "enrichment"))
        for change in west.errors.changes_since(0):
            tables.errors.apply_replica(change)
    finally:
        west.close()
    assert counts.refresh(tables.errors) == {"enrichment": 1, "pattern": 1}
