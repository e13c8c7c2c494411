"""`MRBATCH_TARGET=aws` end to end: a function configured by nothing but the environment
the regional template gives it.

The variables are read from deploy/aws/regional.yaml itself (its `Ref`s and `Fn::Sub`s
resolved for one environment), moto holds resources under the names they name, and the
Lambda handlers, never configured by the test, build their region on their first call as
a deployed function does. A template that names a table, bucket or state machine the code
does not find, or a handler that reads a variable the template does not set, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from tests.aws.world import eventbridge_event, run_execution

from mrbatch.aws import lambdas
from mrbatch.aws.clients import forget_clients
from mrbatch.aws.deploy.templates import load_template
from mrbatch.aws.settings import REQUIRED
from mrbatch.enrichment.api import read_financial_csv
from mrbatch.errors import ConfigError
from mrbatch.handlers.integrations import DEFINITIONS_DIR, definition_substitutions
from mrbatch.job import JobOptions, run_job
from mrbatch.notify.ses import MAIL_LEDGER
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.routing.dynamodb import create_routing_table
from mrbatch.state import BATCH_STATE, ERRORS, FINANCIALS, DynamoDBTable, create_dynamodb_table

EAST, WEST = "us-east-1", "us-west-2"
ENV = "demo"
MRAP = f"arn:aws:s3::{DEFAULT_ACCOUNT_ID}:accesspoint/mfzwi23gnjvgw.mrap"
PARAMETERS = {
    "EnvName": ENV,
    "PrimaryRegion": EAST,
    "SecondaryRegion": WEST,
    "Sender": "mrbatch@example.com",
    "Recipients": "ops@example.com",
    "AccessPointArn": MRAP,
    "AWS::Region": EAST,
    "AWS::AccountId": DEFAULT_ACCOUNT_ID,
    "AWS::Partition": "aws",
}
KEY = "input/orders 1.csv"
_NAME = re.compile(r"\$\{([A-Za-z0-9:]+)\}")


def _resolved(value: Any) -> str:
    """A template value with its `Ref` / `Fn::Sub` resolved from PARAMETERS."""
    if isinstance(value, dict) and "Ref" in value:
        return PARAMETERS[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return _NAME.sub(lambda m: PARAMETERS[m.group(1)], value["Fn::Sub"])
    return str(value)


def template_environment() -> dict[str, str]:
    """What every function of the regional template gets, plus what Lambda sets itself."""
    resources = load_template("regional")["Resources"]
    found = {
        json.dumps(r["Properties"]["Environment"]["Variables"], sort_keys=True)
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert len(found) == 1, "the functions' environments differ: test each one"
    variables = json.loads(found.pop())
    return {"AWS_REGION": EAST, **{k: _resolved(v) for k, v in variables.items()}}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The template's environment in os.environ, and no region configured yet."""
    env = template_environment()
    for name in [n for n in env if n.startswith("MRBATCH_")]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lambdas, "_settings", None)  # a fresh container
    forget_clients()
    return env


def _named(template: str, logical_id: str, name_property: str) -> str:
    """The name another template gives a resource (resolved for this environment)."""
    resource = load_template(template)["Resources"][logical_id]
    return _resolved(resource["Properties"][name_property])


def _deploy(financials: Path) -> None:
    """What the stacks create in us-east-1, under the names *their* templates give (not
    the functions' environment: the two must agree)."""
    dynamodb = boto3.client("dynamodb", region_name=EAST)
    for spec, logical_id in (
        (BATCH_STATE, "BatchStateTable"),
        (ERRORS, "ErrorsTable"),
        (FINANCIALS, "FinancialsTable"),
        (MAIL_LEDGER, "MailLedgerTable"),
    ):
        create_dynamodb_table(dynamodb, spec, table_name=_named("global", logical_id, "TableName"))
    create_routing_table(dynamodb, _named("global", "RoutingTable", "TableName"))
    table = DynamoDBTable(
        dynamodb, FINANCIALS, table_name=_named("global", "FinancialsTable", "TableName")
    )
    table.put_many([dict(row) for row in read_financial_csv(financials)])
    bucket = _named("storage", "DataBucket", "BucketName")
    s3 = boto3.client("s3", region_name=EAST)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    boto3.client("sesv2", region_name=EAST).create_email_identity(EmailIdentity="example.com")
    text = (DEFINITIONS_DIR / "main_orchestrator.asl.json").read_text()
    substitutions = definition_substitutions(
        enrichment_endpoint="abc123.execute-api.us-east-1.amazonaws.com",
        error_table=_named("global", "ErrorsTable", "TableName"),
        account=DEFAULT_ACCOUNT_ID,
    )
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    boto3.client("stepfunctions", region_name=EAST).create_state_machine(
        name=_named("regional", "MainOrchestrator", "StateMachineName"),
        definition=text,
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/mrbatch-orchestrator",
    )


def test_template_environment_runs_a_file_when_nothing_else_configures_the_functions(
    aws: None, environment: dict[str, str], tmp_path: Path
) -> None:
    source, financials = write_sample_files(tmp_path / "sample", "orders", 300, 7, 0.1)
    _deploy(financials)
    assert environment["MRBATCH_TARGET"] == "aws"
    s3 = boto3.client("s3", region_name=EAST)
    bucket = environment["MRBATCH_BUCKET"]
    version = s3.put_object(Bucket=bucket, Key=KEY, Body=source.read_bytes())["VersionId"]
    event = eventbridge_event(EAST, quote_plus(KEY), version)
    event["detail"]["bucket"]["name"] = bucket
    [outcome] = lambdas.object_created(event, None)
    assert outcome["action"] == "started", outcome
    sfn = boto3.client("stepfunctions", region_name=EAST)
    [execution] = sfn.list_executions(stateMachineArn=environment["MRBATCH_STATE_MACHINE_ARN"])[
        "executions"
    ]
    started = sfn.describe_execution(executionArn=execution["executionArn"])
    state = run_execution(json.loads(started["input"]))
    output = s3.get_object(Bucket=bucket, Key=f"output/completed/{version}/orders 1.csv")
    summary = run_job(source, financials, tmp_path / "process", options=JobOptions(workers=1))
    assert output["Body"].read() == Path(summary.output).read_bytes()
    assert MRAP.rsplit("/", 1)[1] in state["email"]["url"]  # links through the access point
    [mail] = ses_backends[DEFAULT_ACCOUNT_ID][EAST].sent_messages
    assert version in mail.raw_data
    dynamodb = boto3.client("dynamodb", region_name=EAST)
    items = DynamoDBTable(
        dynamodb, BATCH_STATE, table_name=environment["MRBATCH_BATCH_STATE_TABLE"]
    ).scan()
    assert [(i["key"], i["status"]) for i in items] == [(KEY, "COMPLETED")]


@pytest.mark.parametrize("variable", sorted(REQUIRED))
def test_first_call_names_the_one_missing_variable_when_the_environment_lacks_it(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigError) as caught:
        lambdas.split_input_file({}, None)
    lines = str(caught.value).splitlines()
    assert lines[1:] == [f"  {variable}: {REQUIRED[variable]}"]


def test_first_call_refuses_another_target_when_the_environment_names_one(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MRBATCH_TARGET", "local")
    with pytest.raises(ConfigError, match="MRBATCH_TARGET is 'local'"):
        lambdas.object_created({}, None)
