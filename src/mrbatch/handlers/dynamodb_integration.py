"""The `dynamodb:putItem|getItem|updateItem|deleteItem` integrations over a region's tables.

A Task with `"Resource": "arn:aws:states:::dynamodb:putItem"` passes the DynamoDB API's
parameters (`TableName`, `Item` / `Key` in DynamoDB's typed attribute format) and gets the
result the AWS SDK returns (`getItem` -> `{"Item": {...typed}}`, `{}` when absent). Items
are converted both ways between the typed format and the plain dicts of the `Table` port:

    {"S": "a"} <-> "a"      {"N": "12"} <-> 12     {"N": "1.5"} <-> 1.5
    {"BOOL": true} <-> True {"NULL": true} <-> None
    {"M": {...}} <-> dict   {"L": [...]} <-> list  {"SS": [...]}, {"NS": [...]} -> list

Supported expressions (what the definitions need, and a little more; anything else fails
the task with `DynamoDB.ValidationException` naming what is not supported):

- `ConditionExpression`: clauses joined by `AND`, each `attribute_not_exists(name)` or
  `name = :value` (names may be `#placeholders` from `ExpressionAttributeNames`);
- `UpdateExpression`: `SET name = :value, ...` only (the `Table` port cannot remove
  attributes);
- `ReturnValues`: `NONE`, and `ALL_OLD` (putItem, deleteItem) / `ALL_NEW` (updateItem).

Errors are named as Step Functions names them: `DynamoDB.ConditionalCheckFailedException`,
`DynamoDB.ResourceNotFoundException` (unknown table), `DynamoDB.ValidationException`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mrbatch.asl import StatesError, TaskCall
from mrbatch.errors import ConditionFailedError, TableError
from mrbatch.ports import Condition, Table

__all__ = ["DynamoDBIntegration", "from_attribute", "from_item", "to_attribute", "to_item"]

_VALIDATION = "DynamoDB.ValidationException"
_CLAUSE_ABSENT = re.compile(r"attribute_not_exists\(\s*(#?[A-Za-z0-9_]+)\s*\)")
_CLAUSE_EQUALS = re.compile(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)")
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def _invalid(message: str) -> StatesError:
    return StatesError(_VALIDATION, message)


def _number(text: Any) -> int | float:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise _invalid(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise _invalid(f"{text!r} is not a finite number")
    return int(value) if value == value.to_integral_value() else float(value)


def from_attribute(value: Any) -> Any:
    """One typed attribute value (`{"S": "a"}`) as a plain value (`"a"`)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise _invalid(f"an attribute value must be an object with one type key, got {value!r}")
    kind, inner = next(iter(value.items()))
    converters: dict[str, Callable[[Any], Any]] = {
        "S": str,
        "N": _number,
        "BOOL": bool,
        "NULL": lambda _: None,
        "M": from_item,
        "L": lambda items: [from_attribute(item) for item in items],
        "SS": lambda items: [str(item) for item in items],
        "NS": lambda items: [_number(item) for item in items],
    }
    if kind not in converters:
        raise _invalid(f"attribute type {kind!r} is not supported locally")
    return converters[kind](inner)


def from_item(item: Any) -> dict[str, Any]:
    """A typed item (or key) as a plain dict."""
    if not isinstance(item, dict):
        raise _invalid(f"an item must be an object, got {item!r}")
    return {str(name): from_attribute(value) for name, value in item.items()}


def to_attribute(value: Any) -> dict[str, Any]:
    """A plain value as a typed attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    raise _invalid(f"cannot store a value of type {type(value).__name__}")


def to_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as a typed item."""
    return {str(name): to_attribute(value) for name, value in item.items()}


class DynamoDBIntegration:
    """The four item operations against `tables`, found by `TableName` (the table's name)."""

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self._tables = dict(tables)

    async def put_item(self, call: TaskCall) -> dict[str, Any]:
        """`dynamodb:putItem`."""
        params = _params(call)
        table = self._table(params)
        item = from_item(params.get("Item"))
        condition = _condition(params)
        returns = _returns(params, ("NONE", "ALL_OLD"))
        old = await asyncio.to_thread(_old_item, table, item, returns)
        await _run(table.put, item, condition=condition)
        return {"Attributes": to_item(old)} if old else {}

    async def get_item(self, call: TaskCall) -> dict[str, Any]:
        """`dynamodb:getItem`."""
        params = _params(call)
        table = self._table(params)
        item = await _run(table.get, from_item(params.get("Key")))
        return {} if item is None else {"Item": to_item(item)}

    async def update_item(self, call: TaskCall) -> dict[str, Any]:
        """`dynamodb:updateItem` (SET only)."""
        params = _params(call)
        table = self._table(params)
        changes = _set_clauses(params)
        returns = _returns(params, ("NONE", "ALL_NEW"))
        key, condition = from_item(params.get("Key")), _condition(params)
        new = await _run(table.update, key, changes, condition=condition)
        return {"Attributes": to_item(new)} if returns == "ALL_NEW" else {}

    async def delete_item(self, call: TaskCall) -> dict[str, Any]:
        """`dynamodb:deleteItem`."""
        params = _params(call)
        table = self._table(params)
        key, condition = from_item(params.get("Key")), _condition(params)
        returns = _returns(params, ("NONE", "ALL_OLD"))
        old = await _run(table.get, key) if returns == "ALL_OLD" else None
        await _run(table.delete, key, condition=condition)
        return {"Attributes": to_item(old)} if old else {}

    def _table(self, params: Mapping[str, Any]) -> Table:
        name = params.get("TableName")
        if name not in self._tables:
            raise StatesError(
                "DynamoDB.ResourceNotFoundException",
                f"Requested resource not found: table {name!r} (local tables: "
                f"{', '.join(sorted(self._tables))})",
            )
        return self._tables[str(name)]


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking table call off the engine's event loop, its errors named as DynamoDB's."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ConditionFailedError as exc:
        raise StatesError(
            "DynamoDB.ConditionalCheckFailedException", f"The conditional request failed ({exc})"
        ) from exc
    except TableError as exc:
        raise _invalid(str(exc)) from exc


def _old_item(table: Table, item: Mapping[str, Any], returns: str) -> Any:
    if returns != "ALL_OLD":
        return None
    key = {name: item.get(name) for name in table.key_names}
    try:
        return table.get(key)
    except TableError as exc:
        raise _invalid(str(exc)) from exc


def _params(call: TaskCall) -> dict[str, Any]:
    if not isinstance(call.parameters, dict):
        raise _invalid("the task's Parameters must be an object")
    return call.parameters


def _returns(params: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    value = str(params.get("ReturnValues", "NONE"))
    if value not in allowed:
        raise _invalid(f"ReturnValues {value!r} is not supported here (use {', '.join(allowed)})")
    return value


def _name(token: str, params: Mapping[str, Any]) -> str:
    if not token.startswith("#"):
        return token
    names = params.get("ExpressionAttributeNames") or {}
    if token not in names:
        raise _invalid(f"{token} is not in ExpressionAttributeNames")
    return str(names[token])


def _value(token: str, params: Mapping[str, Any]) -> Any:
    values = params.get("ExpressionAttributeValues") or {}
    if token not in values:
        raise _invalid(f"{token} is not in ExpressionAttributeValues")
    return from_attribute(values[token])


def _condition(params: Mapping[str, Any]) -> Condition | None:
    """ConditionExpression as a `Condition` (see the module doc for what is supported)."""
    expression = params.get("ConditionExpression")
    if not expression:
        return None
    absent: list[str] = []
    equals: dict[str, Any] = {}
    for clause in _AND.split(str(expression).strip()):
        if match := _CLAUSE_ABSENT.fullmatch(clause.strip()):
            absent.append(_name(match.group(1), params))
        elif match := _CLAUSE_EQUALS.fullmatch(clause.strip()):
            equals[_name(match.group(1), params)] = _value(match.group(2), params)
        else:
            raise _invalid(
                f"ConditionExpression clause {clause!r} is not supported locally "
                "(only attribute_not_exists(name) and name = :value, joined by AND)"
            )
    return Condition(absent=tuple(absent), equals=equals)


def _set_clauses(params: Mapping[str, Any]) -> dict[str, Any]:
    expression = str(params.get("UpdateExpression", "")).strip()
    if not expression.upper().startswith("SET "):
        raise _invalid(f"UpdateExpression {expression!r}: only SET is supported locally")
    changes: dict[str, Any] = {}
    for clause in expression[4:].split(","):
        match = _CLAUSE_EQUALS.fullmatch(clause.strip())
        if match is None:
            raise _invalid(f"UpdateExpression clause {clause.strip()!r} is not name = :value")
        changes[_name(match.group(1), params)] = _value(match.group(2), params)
    return changes
