"""DynamoDBTable: the AWS implementation of `Table`, over an injected boto3 DynamoDB client.

Conditions become condition expressions, so DynamoDB checks them atomically on the server;
floats travel as Decimal and come back as int (integral) or float; every list goes through
boto3's paginators; botocore errors become `ConditionFailedError` / `TableError` here.
`get_many` / `put_many` use BatchGetItem (100 keys a request) and BatchWriteItem (25 items),
retrying what DynamoDB leaves unprocessed with exponential backoff (`sleep` is injected).

Example (needs a real or mocked DynamoDB):
    client = boto3.client("dynamodb")
    create_dynamodb_table(client, BATCH_STATE)
    table = DynamoDBTable(client, BATCH_STATE)
    table.put({"file_id": "a.csv#v1", "status": "INITIALIZED"},
              condition=Condition(absent=("file_id",)))
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from mrbatch.errors import ConditionFailedError, TableError
from mrbatch.ports import Condition, Item
from mrbatch.state.schema import KeyValue, TableSpec, check_changes, key_of, normalise_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBTable", "create_dynamodb_table"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_GET_PAGE = 100  # BatchGetItem's limit of keys per request
_PUT_PAGE = 25  # BatchWriteItem's limit of requests per call
_BACKOFF_FIRST = 0.05  # seconds before the first retry of unprocessed keys or items
_BACKOFF_MAX = 2.0
_MAX_STALLS = 8  # retries in a row that process nothing before giving up


class DynamoDBTable:
    """A `Table` stored in the DynamoDB table `table_name` (default: the spec's name).

    `page_size` bounds each page of `query` / `scan` (DynamoDB also stops at 1 MB);
    `sleep` waits between retries of what a batch request left unprocessed.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        spec: TableSpec,
        *,
        table_name: str | None = None,
        page_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.spec = spec
        self.name = table_name or spec.name
        self.key_names = spec.key_names
        self._page_size = page_size
        self._sleep = sleep

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

    def get_many(self, keys: Sequence[Mapping[str, Any]]) -> list[Item]:
        """See `mrbatch.ports.Table.get_many`: consistent BatchGetItem requests of at most
        100 distinct keys (DynamoDB refuses duplicates in one request)."""
        wanted = [key_of(self.spec, key) for key in keys]
        distinct = list(dict.fromkeys(wanted))
        found: dict[tuple[KeyValue, ...], Item] = {}
        for start in range(0, len(distinct), _GET_PAGE):
            page = [self._wire_key(key) for key in distinct[start : start + _GET_PAGE]]
            for item in self._drain(page, self._get_page):
                found[key_of(self.spec, item)] = item
        return [copy.deepcopy(found[key]) for key in wanted if key in found]

    def put_many(self, items: Sequence[Item]) -> None:
        """See `mrbatch.ports.Table.put_many`: BatchWriteItem requests of at most 25 puts,
        one per key (the last item given for a key; DynamoDB refuses duplicates in one
        request). Not atomic: a failure can leave earlier requests written."""
        stored = [normalise_item(self.spec, item) for item in items]
        latest = {key_of(self.spec, item): item for item in stored}
        requests = [{"PutRequest": {"Item": _to_dynamo(item)}} for item in latest.values()]
        for start in range(0, len(requests), _PUT_PAGE):
            for _ in self._drain(requests[start : start + _PUT_PAGE], self._put_page):
                pass

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
        return self._wire_key(key_of(self.spec, key))

    def _wire_key(self, values: tuple[KeyValue, ...]) -> dict[str, Any]:
        return _to_dynamo(dict(zip(self.key_names, values, strict=True)))

    def _get_page(self, keys: list[Any]) -> tuple[list[Item], list[Any]]:
        """One BatchGetItem: the items found and the keys left unprocessed."""
        with _translated(self.name):
            response = self.client.batch_get_item(
                RequestItems={self.name: {"Keys": keys, "ConsistentRead": True}}
            )
        responses: Mapping[str, Any] = response.get("Responses") or {}
        unprocessed: Mapping[str, Any] = response.get("UnprocessedKeys") or {}
        items = [_from_dynamo(item) for item in responses.get(self.name) or []]
        return items, list((unprocessed.get(self.name) or {}).get("Keys") or [])

    def _put_page(self, requests: list[Any]) -> tuple[list[Item], list[Any]]:
        """One BatchWriteItem: nothing to return, and the requests left unprocessed."""
        with _translated(self.name):
            response = self.client.batch_write_item(RequestItems={self.name: requests})
        unprocessed: Mapping[str, Any] = response.get("UnprocessedItems") or {}
        return [], list(unprocessed.get(self.name) or [])

    def _drain(
        self,
        pending: list[Any],
        send: Callable[[list[Any]], tuple[list[Item], list[Any]]],
    ) -> Iterator[Item]:
        """Send `pending` until nothing is left unprocessed, backing off exponentially
        between retries (as AWS asks); TableError after `_MAX_STALLS` retries in a row
        that processed nothing (the table stays throttled or unavailable)."""
        stalls = 0
        while pending:
            items, left = send(pending)
            yield from items
            stalls = stalls + 1 if len(left) >= len(pending) else 0
            if stalls > _MAX_STALLS:
                raise TableError(
                    f"DynamoDB left {len(left)} requests on {self.name} unprocessed "
                    f"after {_MAX_STALLS} retries"
                )
            if left:
                self._sleep(min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**stalls))
            pending = left


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
