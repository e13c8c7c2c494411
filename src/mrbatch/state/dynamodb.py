"""DynamoDBTable: the AWS implementation of `Table`, over an injected boto3 DynamoDB client.

Conditions become condition expressions, so DynamoDB checks them atomically on the server;
floats travel as Decimal and come back as int (integral) or float; every list goes through
boto3's paginators; botocore errors become `ConditionFailedError` / `TableError` here.

Example (needs a real or mocked DynamoDB):
    client = boto3.client("dynamodb")
    create_dynamodb_table(client, BATCH_STATE)
    table = DynamoDBTable(client, BATCH_STATE)
    table.put({"file_id": "a.csv#v1", "status": "INITIALIZED"},
              condition=Condition(absent=("file_id",)))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from mrbatch.errors import ConditionFailedError, TableError
from mrbatch.ports import Condition, Item
from mrbatch.state.schema import TableSpec, check_changes, key_of, normalise_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBTable", "create_dynamodb_table"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class DynamoDBTable:
    """A `Table` stored in the DynamoDB table `table_name` (default: the spec's name).

    `page_size` bounds each page of `query` / `scan` (DynamoDB also stops at 1 MB).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        spec: TableSpec,
        *,
        table_name: str | None = None,
        page_size: int | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.name = table_name or spec.name
        self.key_names = spec.key_names
        self._page_size = page_size

    def get(self, key: Mapping[str, Any]) -> Item | None:
        """See `mrbatch.ports.Table.get` (a strongly consistent read)."""
        with _translated(self.name):
            response = self.client.get_item(
                TableName=self.name, Key=self._key(key), ConsistentRead=True
            )
        found = response.get("Item")
        return None if found is None else _from_dynamo(found)

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """See `mrbatch.ports.Table.put`."""
        stored = normalise_item(self.spec, item)
        args: dict[str, Any] = {"TableName": self.name, "Item": _to_dynamo(stored)}
        args.update(_condition_args(condition, {}, {}))
        with _translated(self.name):
            self.client.put_item(**args)

    def update(
        self,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        condition: Condition | None = None,
    ) -> Item:
        """See `mrbatch.ports.Table.update` (one UpdateItem returning ALL_NEW)."""
        updates = check_changes(self.spec, changes)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = []
        for n, (attr, value) in enumerate(updates.items()):
            names[f"#u{n}"] = attr
            values[f":u{n}"] = _to_dynamo_value(value)
            sets.append(f"#u{n} = :u{n}")
        args: dict[str, Any] = {
            "TableName": self.name,
            "Key": self._key(key),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ReturnValues": "ALL_NEW",
        }
        args.update(_condition_args(condition, names, values))
        with _translated(self.name):
            response = self.client.update_item(**args)
        return _from_dynamo(response["Attributes"])

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        """See `mrbatch.ports.Table.delete`."""
        args: dict[str, Any] = {"TableName": self.name, "Key": self._key(key)}
        args.update(_condition_args(condition, {}, {}))
        with _translated(self.name):
            self.client.delete_item(**args)

    def query(self, index: str, value: Any) -> Iterator[Item]:
        """See `mrbatch.ports.Table.query`: the table itself for the partition key (strongly
        consistent), else the global secondary index "<index>-index" (eventually consistent,
        as every GSI)."""
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": index},
            "ExpressionAttributeValues": {":v": _to_dynamo_value(value)},
        }
        if index == self.key_names[0]:
            key_of(self.spec, {**_dummy_key(self.spec), index: value})
            args["ConsistentRead"] = True
        elif index in self.spec.indexes:
            args["IndexName"] = f"{index}-index"
        else:
            raise TableError(f"table {self.name} has no index {index!r}")
        return self._paginate("query", args)

    def scan(self) -> Iterator[Item]:
        """See `mrbatch.ports.Table.scan` (consistent reads, every page)."""
        return self._paginate("scan", {"TableName": self.name, "ConsistentRead": True})

    def _paginate(self, operation: str, args: dict[str, Any]) -> Iterator[Item]:
        config = {"PageSize": self._page_size} if self._page_size else {}
        with _translated(self.name):
            paginator = self.client.get_paginator(operation)  # type: ignore[call-overload]
            for page in paginator.paginate(**args, PaginationConfig=config):
                for item in page.get("Items", []):
                    yield _from_dynamo(item)

    def _key(self, key: Mapping[str, Any]) -> dict[str, Any]:
        values = key_of(self.spec, key)
        return _to_dynamo(dict(zip(self.key_names, values, strict=True)))


def create_dynamodb_table(
    client: DynamoDBClient, spec: TableSpec, *, table_name: str | None = None
) -> str:
    """Create the table for `spec` (on-demand billing, one GSI "<attr>-index" per indexed
    attribute, projecting all attributes) and wait until it exists; return its name.
    For tests and the AWS deployment's bootstrap; the template creates the real ones."""
    name = table_name or spec.name
    attributes = {attr: kind for attr, kind in zip(spec.key_names, spec.key_types, strict=True)}
    attributes.update({attr: "S" for attr in spec.indexes})
    args: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": t} for a, t in attributes.items()
        ],
        "KeySchema": _key_schema(spec.key_names),
    }
    if spec.indexes:
        args["GlobalSecondaryIndexes"] = [
            {
                "IndexName": f"{attr}-index",
                "KeySchema": _key_schema((attr,)),
                "Projection": {"ProjectionType": "ALL"},
            }
            for attr in spec.indexes
        ]
    with _translated(name):
        client.create_table(**args)
        client.get_waiter("table_exists").wait(TableName=name)
    return name


def _key_schema(names: tuple[str, ...]) -> list[dict[str, str]]:
    kinds = ["HASH", "RANGE"]
    return [{"AttributeName": n, "KeyType": kinds[i]} for i, n in enumerate(names)]


def _condition_args(
    condition: Condition | None, names: dict[str, str], values: dict[str, Any]
) -> dict[str, Any]:
    """ConditionExpression and its placeholders (added to `names` / `values`)."""
    clauses: list[str] = []
    if condition is not None:
        for n, attr in enumerate(condition.absent):
            names[f"#a{n}"] = attr
            clauses.append(f"attribute_not_exists(#a{n})")
        for n, (attr, value) in enumerate(condition.equals.items()):
            wire = _to_dynamo_value(value)
            names[f"#e{n}"], values[f":e{n}"] = attr, wire
            # The type check makes True never equal 1, whatever the server's comparison does.
            values[f":t{n}"] = {"S": next(iter(wire))}
            clauses.append(f"(#e{n} = :e{n} AND attribute_type(#e{n}, :t{n}))")
        for n, (attr, limit) in enumerate(condition.at_most.items()):
            names[f"#m{n}"], values[f":m{n}"] = attr, _to_dynamo_value(limit)
            clauses.append(f"(attribute_not_exists(#m{n}) OR #m{n} <= :m{n})")
    args: dict[str, Any] = {}
    if clauses:
        args["ConditionExpression"] = " AND ".join(clauses)
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = values
    return args


def _to_dynamo_value(value: Any) -> Any:
    return _SERIALIZER.serialize(_decimals(value))


def _to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _to_dynamo_value(value) for name, value in item.items()}


def _from_dynamo(item: Mapping[str, Any]) -> Item:
    return {name: _numbers(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


def _decimals(value: Any) -> Any:
    """floats → Decimal (boto3 refuses floats), recursively."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _numbers(value: Any) -> Any:
    """Decimal → int when integral, else float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _dummy_key(spec: TableSpec) -> dict[str, Any]:
    return {n: "k" if t == "S" else 0 for n, t in zip(spec.key_names, spec.key_types, strict=True)}


class _translated:
    """Turn botocore errors raised inside the block into mrbatch table errors."""

    def __init__(self, table: str) -> None:
        self.table = table

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), error.get("Message", "")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailedError(f"table {self.table}: condition failed") from exc
            raise TableError(
                f"DynamoDB refused the request on {self.table}: {code} {message}"
            ) from exc
        if isinstance(exc, BotoCoreError):
            raise TableError(f"DynamoDB could not be reached for {self.table}: {exc}") from exc
