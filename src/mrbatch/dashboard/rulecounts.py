"""Invalid rows by rule in one region's error table, kept up to date incrementally.

The overview polls every 2 s; counting the error table on each poll reads every invalid
row ever written, so the page gets slower with every file. Instead each region keeps a
small summary (rows by rule, per file version) and each poll reads only what changed since
the last one, through the table's change feed (`changes_since`, on the `seq` index): the
file versions that changed are counted again from their own rows (a key query on
`file_id`), the others are not read at all. A poll therefore costs the writes since the
previous poll, not the size of the table. The first poll reads the feed once from the start.

Recounting whole file versions, rather than adding each change, keeps the summary exact
when a row is written again (a re-driven chunk rewrites its rows), replaced by a
replicated copy, or deleted: the feed gives an item's latest write, not the one before.

Example:
    >>> import tempfile
    >>> from mrbatch.state.sqlite import open_region_tables
    >>> tables = open_region_tables(tempfile.mkdtemp() + "/t.db", origin="us-east-1")
    >>> counts = RuleCounts()
    >>> tables.errors.put({"file_id": "input/a.csv#v1", "row": 2, "rule": "format"})
    >>> counts.refresh(tables.errors)
    {'format': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from mrbatch.state.sqlite import TableChange

__all__ = ["ChangedTable", "RuleCounts"]

_PAGE = 500


class ChangedTable(Protocol):
    """What the summary reads: the table's change feed and a query by its partition key
    (`SqliteTable` has both)."""

    def changes_since(self, cursor: int = 0, *, limit: int = 500) -> list[TableChange]: ...

    def query(self, index: str, value: Any) -> Iterator[Mapping[str, Any]]: ...


class RuleCounts:
    """Invalid rows by rule of one error table, refreshed from its change feed."""

    def __init__(self) -> None:
        self._cursor = 0
        self._by_file: dict[str, Counter[str]] = {}
        self._total: Counter[str] = Counter()

    def refresh(self, table: ChangedTable) -> dict[str, int]:
        """Bring the summary up to date with `table` and return rows by rule."""
        for file_id in self._changed_files(table):
            fresh = Counter(str(item.get("rule")) for item in table.query("file_id", file_id))
            self._total.subtract(self._by_file.pop(file_id, Counter()))
            self._total.update(fresh)
            if fresh:
                self._by_file[file_id] = fresh
        return {rule: n for rule, n in sorted(self._total.items()) if n > 0}

    def _changed_files(self, table: ChangedTable) -> set[str]:
        """The file versions with a write after the cursor, moving the cursor past them."""
        changed: set[str] = set()
        while page := table.changes_since(self._cursor, limit=_PAGE):
            changed.update(str(change.key["file_id"]) for change in page)
            self._cursor = page[-1].seq
        return changed
