"""The AWS entry points' pieces: settings from the environment, events decoded, the
workflow start, presigned links, the enrichment API, failures recorded from events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from tests.aws.world import TABLES, World, build_world, eventbridge_event, s3_put_event

from mrbatch.aws import lambdas
from mrbatch.aws.enrichment import answer
from mrbatch.aws.events import objects_created
from mrbatch.aws.presign import presigner
from mrbatch.aws.settings import REQUIRED, REQUIRED_EXAMPLE, AwsSettings
from mrbatch.aws.stepfunctions import StepFunctionsStarter, WorkflowStartError
from mrbatch.errors import ConfigError, InputFileError
from mrbatch.handlers import batch_state
from mrbatch.handlers.region import current_region
from mrbatch.state import BATCH_STATE, FINANCIALS, DynamoDBTable, MemoryTable

MRAP = "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap"


# --- settings ----------------------------------------------------------------------------


def test_every_missing_variable_is_named_when_the_environment_is_empty() -> None:
    with pytest.raises(ConfigError) as caught:
        AwsSettings.from_environment({})
    for name in REQUIRED:
        assert f"\n  {name}: " in str(caught.value)


def test_local_target_is_refused_when_aws_settings_are_read() -> None:
    with pytest.raises(ConfigError, match="MRBATCH_TARGET"):
        AwsSettings.from_environment({**REQUIRED_EXAMPLE, "MRBATCH_TARGET": "local"})


@pytest.mark.parametrize(
    "override",
    [{"AWS_REGION": "eu-west-1"}, {"MRBATCH_CHUNK_SIZE": "0"}, {"MRBATCH_CHUNK_SIZE": "x"}],
    ids=repr,
)
def test_bad_values_are_refused_when_read(override: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        AwsSettings.from_environment({**REQUIRED_EXAMPLE, **override})


def test_settings_keep_lists_and_defaults_when_read() -> None:
    env = {**REQUIRED_EXAMPLE, "MRBATCH_RECIPIENTS": "a@example.com, b@example.com"}
    settings = AwsSettings.from_environment(env)
    assert settings.recipients == ("a@example.com", "b@example.com")
    assert (settings.chunk_size, settings.access_point_arn) == (1000, None)


# --- events ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [s3_put_event, eventbridge_event])
def test_key_is_url_decoded_and_version_taken_when_an_object_is_created(
    make: Callable[[str, str, str], dict[str, Any]],
) -> None:
    event = make("us-east-1", "input/Q1+sales+%282026%29%3Afinal.csv", "v-42")
    [created] = objects_created(event)
    assert (created.bucket, created.key, created.version_id) == (
        "mrbatch-us-east-1",
        "input/Q1 sales (2026):final.csv",
        "v-42",
    )


def test_s3_test_event_announces_nothing_when_notifications_are_configured() -> None:
    assert objects_created({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []


def test_object_without_version_is_refused_when_the_bucket_is_unversioned() -> None:
    event = s3_put_event("us-east-1", "input/a.csv", "v")
    del event["Records"][0]["s3"]["object"]["versionId"]
    with pytest.raises(InputFileError, match="versioning"):
        objects_created(event)


def test_unknown_event_is_refused_when_decoded() -> None:
    with pytest.raises(InputFileError):
        objects_created({"detail-type": "Something"})


# --- Step Functions StartExecution -------------------------------------------------------


@pytest.fixture
def world(aws: None) -> World:
    return build_world(100)


def test_same_name_and_input_is_the_same_execution_when_started_twice(world: World) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    start = StepFunctionsStarter(sfn, world.settings["us-east-1"].state_machine_arn)
    first = start("a-0123456789abcdef-e1", {"fileId": "a#v", "epoch": 1})
    assert start("a-0123456789abcdef-e1", {"epoch": 1, "fileId": "a#v"}) == first
    assert len(world.executions("us-east-1")) == 1
    with pytest.raises(WorkflowStartError, match="another input"):
        start("a-0123456789abcdef-e1", {"fileId": "a#v", "epoch": 2})


# --- presigned links ---------------------------------------------------------------------


def test_link_through_the_access_point_is_signed_sigv4a_when_one_is_configured(
    aws: None,
) -> None:
    s3 = boto3.client("s3", region_name="us-west-2")
    url, expires = presigner(lambda: s3, MRAP, expires_in=900)("output/completed/v1/a b.csv")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.hostname == "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com"
    assert parts.path == "/output/completed/v1/a%20b.csv"
    assert query["X-Amz-Algorithm"] == ["AWS4-ECDSA-P256-SHA256"]
    assert query["X-Amz-Region-Set"] == ["*"] and expires == 900


def test_link_to_the_bucket_is_signed_sigv4_when_no_access_point_is_configured(
    world: World,
) -> None:
    world.use("us-east-1")
    region_presign = current_region().presign
    url, _ = region_presign("output/x.csv")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "mrbatch-us-east-1" in url


# --- the enrichment API ------------------------------------------------------------------


def http_api_event(method: str, path: str, body: str | None = None) -> dict[str, object]:
    """API Gateway HTTP API payload format 2.0 (captured shape), IAM-authorized."""
    return {
        "version": "2.0",
        "routeKey": f"{method} /financials/{{uuid}}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "userArn": "arn:aws:sts::x"}},
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def financials() -> MemoryTable:
    table = MemoryTable(FINANCIALS)
    table.put(
        {
            "uuid": "123456789",
            "unitsSold": "5",
            "unitPrice": "1.50",
            "unitCost": "1.00",
            "totalRevenue": "7.50",
            "totalCost": "5.00",
            "totalProfit": "2.50",
        }
    )
    return table


def test_enrichment_api_answers_as_the_definition_expects_when_called() -> None:
    table = financials()
    found = answer(http_api_event("GET", "/financials/123456789"), table)
    assert found["statusCode"] == 200
    assert json.loads(found["body"])["totalProfit"] == "2.50"
    assert answer(http_api_event("GET", "/financials/999999999"), table)["statusCode"] == 404
    assert answer(http_api_event("GET", "/financials/12"), table)["statusCode"] == 400
    batch = answer(
        http_api_event("POST", "/financials:batch", '{"uuids": ["123456789", "1"]}'), table
    )
    assert json.loads(batch["body"])["missing"] == ["1"]
    values = answer(
        http_api_event("POST", "/financials:values", '{"uuids": ["1", "123456789"]}'), table
    )
    assert json.loads(values["body"])["values"] == [None, "5,1.50,1.00,7.50,5.00,2.50"]
    rest = {"httpMethod": "GET", "path": "/financials/123456789"}  # payload format 1.0
    assert answer(rest, table)["statusCode"] == 200


# --- failures recorded from execution status change events -------------------------------


def status_change(payload: dict[str, object], status: str, error: str) -> dict[str, object]:
    """EventBridge's `Step Functions Execution Status Change` (captured shape)."""
    return {
        "version": "0",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "region": "us-east-1",
        "detail": {
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:main:x",
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:main",
            "name": "x",
            "status": status,
            "input": json.dumps(payload),
            "error": error,
            "cause": "it broke",
        },
    }


def test_timed_out_execution_marks_its_file_failed_unless_it_was_fenced(world: World) -> None:
    world.use("us-east-1")
    table = DynamoDBTable(
        boto3.client("dynamodb", region_name="us-east-1"),
        BATCH_STATE,
        table_name=TABLES[BATCH_STATE],
    )
    for key in ("input/a.csv", "input/b.csv"):
        batch_state.claim(table, key=key, version_id="v1", region="us-east-1", epoch=1)
    fenced = status_change(
        {"fileId": "input/b.csv#v1", "epoch": 1}, "FAILED", "mrbatch.RegionNotActive"
    )
    assert lambdas.record_execution_failure(fenced, None)["action"] != "recorded"
    timed_out = status_change({"fileId": "input/a.csv#v1", "epoch": 1}, "TIMED_OUT", "")
    assert lambdas.record_execution_failure(timed_out, None) == {"action": "recorded"}
    items = {item["key"]: item for item in table.scan()}
    assert items["input/a.csv"]["status"] == "FAILED"
    assert items["input/a.csv"]["cause"] == "it broke"
    assert items["input/b.csv"]["status"] == "INITIALIZED"
    [mail] = world.sent_mail()
    assert "input/a.csv" in mail.raw_data and "it broke" in mail.raw_data


def test_failed_execution_is_left_to_the_active_region_when_its_epoch_moved(
    world: World,
) -> None:
    world.use("us-east-1")
    table = DynamoDBTable(
        boto3.client("dynamodb", region_name="us-east-1"),
        BATCH_STATE,
        table_name=TABLES[BATCH_STATE],
    )
    batch_state.claim(table, key="input/a.csv", version_id="v1", region="us-east-1", epoch=1)
    current_region().routing.set_active("us-west-2", "drill")
    failed = status_change({"fileId": "input/a.csv#v1", "epoch": 1}, "FAILED", "FencedError")
    assert lambdas.record_execution_failure(failed, None)["action"] == "left to the active region"
    assert [item["status"] for item in table.scan()] == ["INITIALIZED"]


# --- nothing at import -------------------------------------------------------------------


def test_importing_the_handlers_needs_no_environment_and_makes_no_client() -> None:
    import subprocess
    import sys

    code = (
        "import mrbatch.aws.lambdas, mrbatch.aws.clients as c; "
        "assert c._clients == {}, c._clients; "
        "from mrbatch.handlers.region import current_region\n"
        "try:\n    mrbatch.aws.lambdas.split_input_file({}, None)\n"
        "except Exception as e:\n    print(type(e).__name__, e)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ConfigError the AWS target needs these environment variables")


def test_region_spec_pickles_when_handed_to_a_worker() -> None:
    import pickle

    from mrbatch.aws.spec import AwsRegionSpec

    spec = AwsRegionSpec(AwsSettings.from_environment(REQUIRED_EXAMPLE))
    assert pickle.loads(pickle.dumps(spec)) == spec
