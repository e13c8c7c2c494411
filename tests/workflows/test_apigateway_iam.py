"""`apigateway:invoke` with `AuthType: IAM_ROLE` signs its requests (SigV4, execute-api), so
the per-record chunk processor can call the enrichment API, which takes only signed ones.
Real engine, real enrichment API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mrbatch.accesspoint import GatewayServer, generate_credentials
from mrbatch.accesspoint.iam import IamAuth
from mrbatch.asl import Engine, ResourceRegistry
from mrbatch.enrichment.api import build_app
from mrbatch.handlers.apigateway_integration import ApiGatewayIntegration
from mrbatch.handlers.integrations import DEFINITIONS_DIR
from mrbatch.state import FINANCIALS, MemoryTable

ROW = {
    "uuid": "535113847",
    "unitsSold": "934",
    "unitPrice": "152.58",
    "unitCost": "97.44",
    "totalRevenue": "142509.72",
    "totalCost": "91008.96",
    "totalProfit": "51500.76",
}
CREDENTIALS = generate_credentials()


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    table = MemoryTable(FINANCIALS)
    table.put(dict(ROW))
    with GatewayServer(build_app(table, region="us-east-1", credentials=[CREDENTIALS])) as server:
        yield server.url


def _engine(tmp_path: Path, integration: ApiGatewayIntegration) -> Engine:
    registry = ResourceRegistry()
    registry.register_integration("apigateway:invoke", integration.invoke)
    return Engine(tmp_path / "wf.db", resources=registry, no_wait=True)


def _invoke(tmp_path: Path, parameters: dict[str, Any], *, signer: bool = True) -> dict[str, Any]:
    """Run one `apigateway:invoke` Task; its output, or its error and cause."""
    auth = IamAuth(CREDENTIALS, region="us-east-1") if signer else None
    integration = ApiGatewayIntegration(timeout=5, role_auth=auth)
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::apigateway:invoke",
                "Parameters": parameters,
                "End": True,
            }
        },
    }
    try:
        with _engine(tmp_path, integration) as engine:
            arn = engine.create_state_machine("t", definition)
            record = engine.wait_for(engine.start_execution(arn, {}), timeout=30)
    finally:
        integration.close()
    if record.status.value == "SUCCEEDED":
        assert isinstance(record.output, dict)
        return record.output
    return {"status": record.status.value, "error": record.error, "cause": record.cause}


def test_iam_role_get_is_signed_and_answered(tmp_path: Path, api: str) -> None:
    params = {
        "ApiEndpoint": api,
        "Method": "GET",
        "Path": "/financials/535113847",
        "AuthType": "IAM_ROLE",
    }
    output = _invoke(tmp_path, params)
    assert (output["StatusCode"], output["ResponseBody"]) == (200, ROW)


def test_iam_role_post_signs_body_and_query(tmp_path: Path, api: str) -> None:
    params = {
        "ApiEndpoint": api,
        "Method": "POST",
        "Path": "/financials:batch",
        "QueryParameters": {"note": ["a b/c~*"], "a": ["2", "1"]},
        "RequestBody": {"uuids": ["535113847", "999999999"]},
        "AuthType": "IAM_ROLE",
    }
    output = _invoke(tmp_path, params)
    assert output["ResponseBody"] == {"found": {"535113847": ROW}, "missing": ["999999999"]}


def test_no_auth_request_is_refused_by_the_enrichment_api(tmp_path: Path, api: str) -> None:
    params = {"ApiEndpoint": api, "Method": "GET", "Path": "/financials/535113847"}
    failed = _invoke(tmp_path, {**params, "AuthType": "NO_AUTH"})
    assert (failed["status"], failed["error"]) == ("FAILED", "ApiGateway.403")
    assert "unitPrice" not in failed["cause"]


def test_iam_role_without_credentials_fails_instead_of_going_unsigned(
    tmp_path: Path, api: str
) -> None:
    params = {"ApiEndpoint": api, "Method": "GET", "Path": "/x", "AuthType": "IAM_ROLE"}
    failed = _invoke(tmp_path, params, signer=False)
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")


def test_unknown_auth_type_fails(tmp_path: Path, api: str) -> None:
    params = {"ApiEndpoint": api, "Method": "GET", "Path": "/x", "AuthType": "MAGIC"}
    failed = _invoke(tmp_path, params)
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")


def test_per_record_processor_calls_the_enrichment_api_with_iam_role() -> None:
    definition = json.loads((DEFINITIONS_DIR / "chunk_processor.asl.json").read_text())
    tasks = [
        state
        for state in _states(definition)
        if state.get("Resource") == "arn:aws:states:::apigateway:invoke"
    ]
    assert tasks and all(task["Parameters"]["AuthType"] == "IAM_ROLE" for task in tasks)


def _states(node: Any) -> Iterator[dict[str, Any]]:
    """Every state of a definition, nested ones (Map, Parallel) included."""
    if isinstance(node, dict):
        yield from (node.get("States") or {}).values()
        for value in node.values():
            yield from _states(value)
    elif isinstance(node, list):
        for item in node:
            yield from _states(item)
