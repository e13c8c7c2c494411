"""The AWS target end to end under moto, with no local runtime: events -> the Lambda
handlers in the order the main orchestrator calls them -> S3, DynamoDB and SES."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
from tests.aws.world import (
    TABLES,
    World,
    bucket,
    build_world,
    chunk_list,
    eventbridge_event,
    run_execution,
    s3_put_event,
)

from mrbatch.aws import lambdas
from mrbatch.enrichment.api import read_financial_csv
from mrbatch.errors import FencedError
from mrbatch.job import JobOptions, run_job
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.state import BATCH_STATE, FINANCIALS, DynamoDBTable

CHUNK = 70
KEY = "input/daily orders:1.csv"  # a space and a colon: URL-encoded in every event


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path]:
    return write_sample_files(tmp_path / "sample", "orders", 300, 7, 0.1)


@pytest.fixture
def world(aws: None, sample: tuple[Path, Path]) -> World:
    made = build_world(CHUNK)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    financials = DynamoDBTable(dynamodb, FINANCIALS, table_name=TABLES[FINANCIALS])
    financials.put_many([dict(row) for row in read_financial_csv(sample[1])])
    return made


def batch_state() -> DynamoDBTable:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return DynamoDBTable(client, BATCH_STATE, table_name=TABLES[BATCH_STATE])


def expected_output(sample: tuple[Path, Path], out: Path) -> bytes:
    summary = run_job(*sample, out, options=JobOptions(chunk_size=CHUNK, workers=1))
    return Path(summary.output).read_bytes()


@pytest.mark.parametrize("shape", ["s3-notification", "eventbridge"])
def test_event_runs_the_file_to_one_output_one_email_one_completed_item(
    world: World, sample: tuple[Path, Path], tmp_path: Path, shape: str
) -> None:
    world.use("us-east-1")
    version = world.upload("us-east-1", KEY, sample[0].read_bytes())
    make_event = s3_put_event if shape == "s3-notification" else eventbridge_event
    [outcome] = lambdas.object_created(make_event("us-east-1", quote_plus(KEY), version), None)
    assert outcome["action"] == "started"
    [execution] = world.executions("us-east-1")
    state = run_execution(json.loads(execution["input"]))
    output = world.s3("us-east-1").get_object(
        Bucket=bucket("us-east-1"), Key=f"output/completed/{version}/daily orders:1.csv"
    )
    assert output["Body"].read() == expected_output(sample, tmp_path / "process")
    [mail] = world.sent_mail()
    assert version in mail.raw_data and "mrbatch.RegionNotActive" not in mail.raw_data
    assert state["email"]["sent"] is True
    items = list(batch_state().scan())
    assert [(i["key"], i["version_id"], i["status"]) for i in items] == [
        (KEY, version, "COMPLETED")
    ]


def test_duplicate_event_changes_nothing_when_the_file_is_done(
    world: World, sample: tuple[Path, Path]
) -> None:
    world.use("us-east-1")
    version = world.upload("us-east-1", KEY, sample[0].read_bytes())
    event = s3_put_event("us-east-1", quote_plus(KEY), version)
    lambdas.object_created(event, None)
    [execution] = world.executions("us-east-1")
    run_execution(json.loads(execution["input"]))
    before = list(batch_state().scan())
    [again] = lambdas.object_created(event, None)
    assert again["action"] == "already finished"
    assert len(world.executions("us-east-1")) == 1
    assert len(world.sent_mail()) == 1
    assert list(batch_state().scan()) == before


def test_duplicate_event_starts_nothing_new_when_the_file_is_running(
    world: World, sample: tuple[Path, Path]
) -> None:
    world.use("us-east-1")
    version = world.upload("us-east-1", KEY, sample[0].read_bytes())
    event = eventbridge_event("us-east-1", quote_plus(KEY), version)
    [first] = lambdas.object_created(event, None)
    [second] = lambdas.object_created(event, None)
    assert (first["action"], second["action"]) == ("started", "started")
    assert first["execution_arn"] == second["execution_arn"]
    assert len(world.executions("us-east-1")) == 1


def test_failover_fences_the_old_region_and_reconciliation_redrives_in_the_new(
    world: World, sample: tuple[Path, Path], tmp_path: Path
) -> None:
    world.use("us-east-1")
    version = world.upload("us-east-1", KEY, sample[0].read_bytes())
    lambdas.object_created(s3_put_event("us-east-1", quote_plus(KEY), version), None)
    [east_run] = world.executions("us-east-1")
    state = run_execution(json.loads(east_run["input"]), until="split")
    flipped = lambdas.activate_region(
        {"region": "us-west-2", "expectedEpoch": 1, "reason": "drill"}, None
    )
    assert (flipped["active_region"], flipped["epoch"]) == ("us-west-2", 2)
    chunk = chunk_list(state)[0]
    task = {k: state[k] for k in ("fileId", "versionId", "key", "epoch")}
    with pytest.raises(FencedError):
        lambdas.process_chunk({**task, "chunk": chunk, "index": 0}, None)

    world.use("us-west-2")
    assert lambdas.replication_backlog({}, None)["pending"] == [f"{KEY}#{version}"]
    world.replicate("us-east-1", "us-west-2", KEY, version)
    assert lambdas.replication_backlog({}, None)["count"] == 0
    result = lambdas.reconcile({}, None)
    assert result["redriven"] == [f"{KEY}#{version}"] and result["missing"] == []
    [west_run] = world.executions("us-west-2")
    assert json.loads(west_run["input"])["epoch"] == 2
    run_execution(json.loads(west_run["input"]))
    output = world.s3("us-west-2").get_object(
        Bucket=bucket("us-west-2"), Key=f"output/completed/{version}/daily orders:1.csv"
    )
    assert output["Body"].read() == expected_output(sample, tmp_path / "process")
    [item] = batch_state().scan()
    assert (item["status"], item["epoch"], item["completed_region"]) == (
        "COMPLETED",
        2,
        "us-west-2",
    )
    assert len(world.sent_mail()) == 1
    assert lambdas.reconcile({}, None)["redriven"] == []
