"""An AWS deployment of two regions under moto, and a stand-in for Step Functions.

moto's Step Functions records executions but does not run Lambda code, so `run_execution`
calls the Lambda handlers in the order the main orchestrator's definition does, shaping
each state's input as its ItemSelector / ResultSelector / ResultPath would. moto has no
S3 replication either: `replicate` writes the replica with the source's version id, as
S3 CRR does. The global tables are one set of tables, served from us-east-1 to both
regions (a global table with no replication lag).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.ses.models import ses_backends

from mrbatch.aws import lambdas
from mrbatch.aws.clients import forget_clients
from mrbatch.aws.settings import REQUIRED_EXAMPLE, AwsSettings
from mrbatch.handlers.integrations import DEFINITIONS_DIR, definition_substitutions
from mrbatch.notify.ses import MAIL_LEDGER
from mrbatch.routing.dynamodb import create_routing_table
from mrbatch.state import BATCH_STATE, ERRORS, FINANCIALS, create_dynamodb_table

REGIONS = ("us-east-1", "us-west-2")
ACCOUNT = DEFAULT_ACCOUNT_ID
TABLES = {
    BATCH_STATE: "mrbatch-batch-state",
    ERRORS: "mrbatch-errors",
    FINANCIALS: "mrbatch-financials",
    MAIL_LEDGER: "mrbatch-mail-ledger",
}


@dataclass
class World:
    settings: dict[str, AwsSettings]

    def use(self, region: str) -> AwsSettings:
        """Make the Lambda handlers of this process those of `region`."""
        return lambdas.configure(self.settings[region])

    def s3(self, region: str) -> Any:
        return boto3.client("s3", region_name=region)

    def upload(self, region: str, key: str, data: bytes) -> str:
        response = self.s3(region).put_object(Bucket=bucket(region), Key=key, Body=data)
        return str(response["VersionId"])

    def replicate(self, source: str, target: str, key: str, version_id: str) -> None:
        """What S3 CRR does: the same bytes under the same version id in the other bucket."""
        body = self.s3(source).get_object(Bucket=bucket(source), Key=key, VersionId=version_id)
        self.s3(target).put_object(Bucket=bucket(target), Key=key, Body=body["Body"].read())
        stored = s3_backends[ACCOUNT]["aws"].get_object(bucket(target), key)
        stored._version_id = version_id  # moto has no CRR: keep the source's id, as CRR does

    def executions(self, region: str) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name=region)
        arn = self.settings[region].state_machine_arn
        listed = sfn.list_executions(stateMachineArn=arn)["executions"]
        return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]

    def sent_mail(self) -> list[Any]:
        return [m for r in REGIONS for m in ses_backends[ACCOUNT][r].sent_messages]


def bucket(region: str) -> str:
    return f"mrbatch-{region}"


def build_world(chunk_size: int) -> World:
    """Buckets (versioned), tables, SES identities and state machines in both regions."""
    forget_clients()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for spec, name in TABLES.items():
        create_dynamodb_table(dynamodb, spec, table_name=name)
    create_routing_table(dynamodb, "mrbatch-routing")
    settings = {}
    for region in REGIONS:
        s3 = boto3.client("s3", region_name=region)
        config = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(
            Bucket=bucket(region), **({"CreateBucketConfiguration": config} if config else {})
        )  # type: ignore[arg-type]
        s3.put_bucket_versioning(
            Bucket=bucket(region), VersioningConfiguration={"Status": "Enabled"}
        )
        boto3.client("sesv2", region_name=region).create_email_identity(EmailIdentity="example.com")
        settings[region] = replace(
            AwsSettings.from_environment(REQUIRED_EXAMPLE),
            region=region,
            bucket=bucket(region),
            state_machine_arn=_state_machine(region),
            chunk_size=chunk_size,
            table_region="us-east-1",
        )
    return World(settings)


def _state_machine(region: str) -> str:
    sfn = boto3.client("stepfunctions", region_name=region)
    values = definition_substitutions(
        enrichment_endpoint=f"abc123.execute-api.{region}.amazonaws.com",
        error_table=TABLES[ERRORS],
        aws_region=region,
        account=ACCOUNT,
    )
    text = (DEFINITIONS_DIR / "main_orchestrator.asl.json").read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    response = sfn.create_state_machine(
        name="main_orchestrator",
        definition=text,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/mrbatch-orchestrator",
    )
    return str(response["stateMachineArn"])


def s3_put_event(region: str, key_on_the_wire: str, version_id: str) -> dict[str, Any]:
    """An S3 event notification as S3 sends it (captured shape; key URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": "2026-12-02T07:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:uploader"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWer",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "mrbatch-input",
                    "bucket": {
                        "name": bucket(region),
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket(region)}",
                    },
                    "object": {
                        "key": key_on_the_wire,
                        "size": 1024,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "versionId": version_id,
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def eventbridge_event(region: str, key_on_the_wire: str, version_id: str) -> dict[str, Any]:
    """S3's EventBridge `Object Created` event (captured shape; key URL-encoded)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-12-02T07:00:00Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket(region)}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket(region)},
            "object": {
                "key": key_on_the_wire,
                "size": 1024,
                "etag": "d41d8cd98f00b204e9800998ecf8427e",
                "version-id": version_id,
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.7",
            "reason": "PutObject",
        },
    }


def chunk_list(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks the Map iterates: the split's list, or its manifest object's lines (read
    by the Map's ItemReader), whichever the split returns."""
    split = state["split"]
    if "manifest" not in split:
        return list(split["chunks"])
    body = boto3.client("s3", region_name=state["region"]).get_object(
        Bucket=split["bucket"], Key=split["manifest"]
    )
    return [json.loads(line) for line in body["Body"].read().splitlines() if line.strip()]


def run_execution(execution_input: dict[str, Any], *, until: str = "end") -> dict[str, Any]:
    """The main orchestrator's states, as its definition runs them, through the Lambda
    handlers of the configured region; `until` stops after "split"."""
    state: dict[str, Any] = dict(execution_input)
    state["split"] = lambdas.split_input_file(json.loads(json.dumps(state)), None)
    if until == "split":
        return state
    for index, chunk in enumerate(chunk_list(state)):
        task = {k: state[k] for k in ("fileId", "versionId", "key", "epoch")}
        # the batch Map's ItemSelector: "index.$": "$$.Map.Item.Value.index"
        lambdas.process_chunk({**task, "chunk": chunk, "index": chunk.get("index", index)}, None)
    merged = lambdas.merge_all_files(json.loads(json.dumps(state)), None)
    state["merge"] = {k: merged[k] for k in ("output", "errors", "counts")}
    email = lambdas.email_the_file(json.loads(json.dumps(state)), None)
    state["email"] = {"sent": email["sent"], "url": email["url"]}
    return state
