"""Table definitions and the checks every Table backend shares.

A `TableSpec` says what DynamoDB needs to know about a table (its key names and types, its
indexes); every backend validates keys and items against it the same way, so a bad key or
a value that cannot be stored fails with the same `TableError` everywhere.

Example:
    >>> key_of(BATCH_STATE, {"file_id": "input/a.csv#v1", "status": "RUNNING"})
    ('input/a.csv#v1',)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mrbatch.errors import TableError
from mrbatch.ports import Condition, Item

__all__ = [
    "BATCH_STATE",
    "ERRORS",
    "FINANCIALS",
    "REGION_TABLES",
    "KeyValue",
    "TableSpec",
    "check_changes",
    "condition_holds",
    "key_of",
    "normalise_item",
]

KeyValue = str | int | float
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TableSpec:
    """A table's shape: `key_types` are DynamoDB's "S" (str) or "N" (number), one per key
    name; `indexes` name the string attributes that can be queried (the DynamoDB global
    secondary index is called "<attribute>-index", as the sample's `status-index`)."""

    name: str
    key_names: tuple[str, ...]
    key_types: tuple[str, ...]
    indexes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = (self.name, *self.key_names, *self.indexes)
        if not all(_NAME.match(n) for n in names):
            raise TableError(f"table spec names must be identifiers: {names}")
        if not 1 <= len(self.key_names) <= 2 or len(self.key_types) != len(self.key_names):
            raise TableError(f"table {self.name}: one partition key and an optional sort key")
        if any(t not in ("S", "N") for t in self.key_types):
            raise TableError(f"table {self.name}: key types must be 'S' or 'N'")


BATCH_STATE = TableSpec("batch_state", ("file_id",), ("S",), ("status",))
ERRORS = TableSpec("errors", ("file_id", "row"), ("S", "N"))
FINANCIALS = TableSpec("financials", ("uuid",), ("S",))
REGION_TABLES = (BATCH_STATE, ERRORS, FINANCIALS)


def key_of(spec: TableSpec, source: Mapping[str, Any]) -> tuple[KeyValue, ...]:
    """The key values of `source` (a key or a whole item), checked against the spec."""
    values = []
    for name, kind in zip(spec.key_names, spec.key_types, strict=True):
        if name not in source:
            raise TableError(f"table {spec.name}: key attribute {name!r} is missing")
        value = source[name]
        ok = isinstance(value, str) if kind == "S" else _is_number(value)
        if not ok or value == "":
            wanted = "a non-empty string" if kind == "S" else "a number"
            raise TableError(f"table {spec.name}: key {name!r} must be {wanted}, got {value!r}")
        values.append(value)
    return tuple(values)


def normalise_item(spec: TableSpec, item: Mapping[str, Any]) -> Item:
    """A deep copy of `item` made only of JSON values; raise TableError for anything else
    (sets, bytes, NaN, non-string keys), so every backend stores exactly the same thing."""
    if not isinstance(item, Mapping):
        raise TableError(f"table {spec.name}: an item must be a dict, not {type(item).__name__}")
    try:
        copied = json.loads(json.dumps(item, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TableError(f"table {spec.name}: item cannot be stored: {exc}") from exc
    if not isinstance(copied, dict) or len(copied) != len(item):
        raise TableError(f"table {spec.name}: item attribute names must be strings")
    key_of(spec, copied)
    return copied


def check_changes(spec: TableSpec, changes: Mapping[str, Any]) -> Item:
    """Validated `changes` for an update: not empty, no key attributes."""
    if not changes:
        raise TableError(f"table {spec.name}: update needs at least one attribute to set")
    touched = sorted(set(changes) & set(spec.key_names))
    if touched:
        raise TableError(f"table {spec.name}: key attributes cannot be updated: {touched}")
    copied = normalise_item(
        spec, {**dict(zip(spec.key_names, _dummy(spec), strict=True)), **changes}
    )
    return {name: value for name, value in copied.items() if name not in spec.key_names}


def condition_holds(item: Mapping[str, Any] | None, condition: Condition | None) -> bool:
    """Whether `condition` holds for the stored `item` (None: no such item)."""
    if condition is None:
        return True
    current = item or {}
    if any(name in current for name in condition.absent):
        return False
    for name, value in condition.equals.items():
        if name not in current or current[name] != value or _bool_mismatch(current[name], value):
            return False
    for name, limit in condition.at_most.items():
        if name in current and not (_is_number(current[name]) and current[name] <= limit):
            return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bool_mismatch(stored: object, wanted: object) -> bool:
    """True == 1 in Python but not in DynamoDB; compare as DynamoDB does."""
    return isinstance(stored, bool) != isinstance(wanted, bool)


def _dummy(spec: TableSpec) -> tuple[KeyValue, ...]:
    return tuple("k" if kind == "S" else 0 for kind in spec.key_types)
