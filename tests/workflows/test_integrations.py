"""The dynamodb:* and apigateway:invoke integrations, run through the engine as Tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from mrbatch.accesspoint.server import GatewayServer
from mrbatch.asl import Engine, ResourceRegistry
from mrbatch.handlers.apigateway_integration import ApiGatewayIntegration
from mrbatch.handlers.dynamodb_integration import DynamoDBIntegration, from_item, to_item
from mrbatch.state import RegionTables, open_region_tables


def _task(resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::{resource}",
                "Parameters": parameters,
                "End": True,
            }
        },
    }


@pytest.fixture()
def tables(tmp_path: Path) -> Iterator[RegionTables]:
    opened = open_region_tables(tmp_path / "tables.db", origin="r1")
    yield opened
    opened.close()


@pytest.fixture()
def engine(tmp_path: Path, tables: RegionTables) -> Iterator[Engine]:
    registry = ResourceRegistry()
    dynamodb = DynamoDBIntegration({"batch_state": tables.batch_state, "errors": tables.errors})
    apigateway = ApiGatewayIntegration(timeout=5)
    for action in ("putItem", "getItem", "updateItem", "deleteItem"):
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in action)
        registry.register_integration(f"dynamodb:{action}", getattr(dynamodb, snake))
    registry.register_integration("apigateway:invoke", apigateway.invoke)
    with Engine(tmp_path / "wf.db", resources=registry, no_wait=True) as opened:
        yield opened
    apigateway.close()


def _run(engine: Engine, definition: dict[str, Any], data: Any = None) -> dict[str, Any]:
    arn = engine.create_state_machine("t", definition)
    record = engine.wait_for(engine.start_execution(arn, data or {}), timeout=30)
    if record.status.value == "SUCCEEDED":
        return {"status": "SUCCEEDED", "output": record.output}
    return {"status": record.status.value, "error": record.error, "cause": record.cause}


def test_typed_attributes_round_trip() -> None:
    typed = {
        "s": {"S": "a"},
        "n": {"N": "12"},
        "f": {"N": "1.5"},
        "b": {"BOOL": False},
        "z": {"NULL": True},
        "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "y"}]}}},
    }
    plain = from_item(typed)
    assert plain == {"s": "a", "n": 12, "f": 1.5, "b": False, "z": None, "m": {"x": [1, "y"]}}
    assert to_item(plain) == typed
    assert from_item({"ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}}) == {
        "ss": ["a", "b"],
        "ns": [1, 2.5],
    }


def test_put_get_update_delete_item(engine: Engine, tables: RegionTables) -> None:
    item = {"file_id": {"S.$": "$.id"}, "row": {"N": "7"}, "rule": {"S": "pattern"}}
    put = _run(
        engine, _task("dynamodb:putItem", {"TableName": "errors", "Item": item}), {"id": "f#1"}
    )
    assert put == {"status": "SUCCEEDED", "output": {}}
    assert tables.errors.get({"file_id": "f#1", "row": 7}) == {
        "file_id": "f#1", "row": 7, "rule": "pattern"}  # fmt: skip
    key = {"file_id": {"S": "f#1"}, "row": {"N": "7"}}
    got = _run(engine, _task("dynamodb:getItem", {"TableName": "errors", "Key": key}))
    assert got["output"] == {"Item": {"file_id": {"S": "f#1"}, "row": {"N": "7"},
                                      "rule": {"S": "pattern"}}}  # fmt: skip
    update = {
        "TableName": "errors",
        "Key": key,
        "UpdateExpression": "SET #r = :r, seen = :t",
        "ConditionExpression": "attribute_exists_not_supported(x)",
        "ExpressionAttributeNames": {"#r": "rule"},
        "ExpressionAttributeValues": {":r": {"S": "enum"}, ":t": {"BOOL": True}},
        "ReturnValues": "ALL_NEW",
    }
    refused = _run(engine, _task("dynamodb:updateItem", update))
    assert refused["status"] == "FAILED" and refused["error"] == "DynamoDB.ValidationException"
    update["ConditionExpression"] = "#r = :old"
    update["ExpressionAttributeValues"][":old"] = {"S": "pattern"}  # type: ignore[index]
    updated = _run(engine, _task("dynamodb:updateItem", update))
    assert updated["output"]["Attributes"]["rule"] == {"S": "enum"}
    assert updated["output"]["Attributes"]["seen"] == {"BOOL": True}
    again = _run(engine, _task("dynamodb:updateItem", update))
    assert again["error"] == "DynamoDB.ConditionalCheckFailedException"
    deleted = _run(
        engine, _task("dynamodb:deleteItem", {"TableName": "errors", "Key": key,
                                               "ReturnValues": "ALL_OLD"}))  # fmt: skip
    assert deleted["output"]["Attributes"]["rule"] == {"S": "enum"}
    missing = _run(engine, _task("dynamodb:getItem", {"TableName": "errors", "Key": key}))
    assert missing["output"] == {}


def test_put_item_create_only_and_unknown_table(engine: Engine) -> None:
    params = {
        "TableName": "batch_state",
        "Item": {"file_id": {"S": "a#1"}, "status": {"S": "INITIALIZED"}},
        "ConditionExpression": "attribute_not_exists(file_id)",
    }
    assert _run(engine, _task("dynamodb:putItem", params))["status"] == "SUCCEEDED"
    second = _run(engine, _task("dynamodb:putItem", params))
    assert second["error"] == "DynamoDB.ConditionalCheckFailedException"
    params["TableName"] = "nope"
    unknown = _run(engine, _task("dynamodb:putItem", params))
    assert unknown["error"] == "DynamoDB.ResourceNotFoundException"


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": sorted(request.query_params.multi_items()),
                "header": request.headers.get("x-test"),
                "body": (await request.body()).decode(),
            },
            headers={"x-reply": "yes"},
        )

    async def missing(request: Request) -> PlainTextResponse:
        return PlainTextResponse("no such thing", status_code=404)

    routes = [Route("/missing", missing), Route("/{path:path}", echo, methods=["GET", "POST"])]
    app = Starlette(routes=routes)
    with GatewayServer(app) as server:
        yield server.url


def test_apigateway_invoke_sends_the_request_and_shapes_the_response(
    engine: Engine, api: str
) -> None:
    params = {
        "ApiEndpoint": api,
        "Method": "POST",
        "Stage": "prod",
        "Path.$": "States.Format('/items/{}', $.id)",
        "Headers": {"X-Test": ["one"]},
        "QueryParameters": {"q": ["a", "b"]},
        "RequestBody": {"n": 1},
        "AuthType": "NO_AUTH",
    }
    result = _run(engine, _task("apigateway:invoke", params), {"id": "a b"})
    output = result["output"]
    assert (output["StatusCode"], output["StatusText"]) == (200, "OK")
    assert output["Headers"]["x-reply"] == ["yes"]
    assert output["ResponseBody"] == {
        "method": "POST",
        "path": "/prod/items/a b",
        "query": [["q", "a"], ["q", "b"]],
        "header": "one",
        "body": '{"n": 1}',
    }


def test_apigateway_non_2xx_fails_with_status_error(engine: Engine, api: str) -> None:
    params = {"ApiEndpoint": api, "Method": "GET", "Path": "/missing"}
    result = _run(engine, _task("apigateway:invoke", params))
    assert result == {"status": "FAILED", "error": "ApiGateway.404", "cause": "no such thing"}
    refused = {"ApiEndpoint": "http://127.0.0.1:9", "Method": "GET", "Path": "/x"}
    down = _run(engine, _task("apigateway:invoke", refused))
    assert down["status"] == "FAILED" and down["error"] == "ApiGateway.ConnectError"
