"""MemoryTable: the in-process fake of `Table`, passing the same contract suite.

Example:
    >>> from mrbatch.state.schema import BATCH_STATE
    >>> table = MemoryTable(BATCH_STATE)
    >>> table.put({"file_id": "a.csv#v1", "status": "INITIALIZED"})
    >>> [item["file_id"] for item in table.query("status", "INITIALIZED")]
    ['a.csv#v1']
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mrbatch.errors import ConditionFailedError, TableError
from mrbatch.ports import Condition, Item
from mrbatch.state.schema import (
    KeyValue,
    TableSpec,
    check_changes,
    condition_holds,
    key_of,
    normalise_item,
)

__all__ = ["MemoryTable"]


class MemoryTable:
    """A table held in a dict; thread-safe; conditions checked under one lock."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.key_names = spec.key_names
        self._items: dict[tuple[KeyValue, ...], Item] = {}
        self._lock = threading.Lock()

    def get(self, key: Mapping[str, Any]) -> Item | None:
        """See `mrbatch.ports.Table.get`."""
        found = self._items.get(key_of(self.spec, key))
        return copy.deepcopy(found)

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """See `mrbatch.ports.Table.put`."""
        stored = normalise_item(self.spec, item)
        key = key_of(self.spec, stored)
        with self._lock:
            self._check(key, condition)
            self._items[key] = stored

    def get_many(self, keys: Sequence[Mapping[str, Any]]) -> list[Item]:
        """See `mrbatch.ports.Table.get_many`; every key read under the lock at once."""
        wanted = [key_of(self.spec, key) for key in keys]
        with self._lock:
            found = [self._items.get(key) for key in wanted]
        return [copy.deepcopy(item) for item in found if item is not None]

    def put_many(self, items: Sequence[Item]) -> None:
        """See `mrbatch.ports.Table.put_many`; all items stored under the lock at once."""
        stored = [normalise_item(self.spec, item) for item in items]
        with self._lock:
            for item in stored:
                self._items[key_of(self.spec, item)] = item

    def update(
        self,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        condition: Condition | None = None,
    ) -> Item:
        """See `mrbatch.ports.Table.update`."""
        values = key_of(self.spec, key)
        updates = check_changes(self.spec, changes)
        with self._lock:
            self._check(values, condition)
            current = self._items.get(values) or dict(zip(self.key_names, values, strict=True))
            new = {**current, **updates}
            self._items[values] = new
            return copy.deepcopy(new)

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        """See `mrbatch.ports.Table.delete`."""
        values = key_of(self.spec, key)
        with self._lock:
            self._check(values, condition)
            self._items.pop(values, None)

    def query(self, index: str, value: Any) -> Iterator[Item]:
        """See `mrbatch.ports.Table.query`; ordered by key, as the other backends."""
        if index not in (self.key_names[0], *self.spec.indexes):
            raise TableError(f"table {self.name} has no index {index!r}")
        return (item for item in self.scan() if index in item and item[index] == value)

    def scan(self) -> Iterator[Item]:
        """See `mrbatch.ports.Table.scan`; iterates over a snapshot, ordered by key."""
        with self._lock:
            snapshot = sorted(self._items.items(), key=lambda pair: _order(pair[0]))
        return (copy.deepcopy(item) for _, item in snapshot)

    def _check(self, key: tuple[KeyValue, ...], condition: Condition | None) -> None:
        if not condition_holds(self._items.get(key), condition):
            raise ConditionFailedError(f"table {self.name}: condition failed for key {key}")


def _order(key: tuple[KeyValue, ...]) -> tuple[tuple[int, Any], ...]:
    """Numbers before strings, each in natural order (as SQLite orders mixed values)."""
    return tuple((1, part) if isinstance(part, str) else (0, part) for part in key)
