"""The shipped ASL files run by mrbatch's own engine with every side effect on moto.

moto's Step Functions does not run Lambda code, so `test_end_to_end` calls the handlers in
the orchestrator's order itself. Here the definitions decide the order: the engine runs
the three state machines (the Distributed Map reading the split's manifest from S3,
`.sync:2` child executions, Catchers, the `dynamodb:*` and `apigateway:invoke`
integrations) over the `Region` `AwsRegionSpec` builds from the AWS adapters: S3 for
objects, DynamoDB for the tables and the routing control, SES for the email, EMF for
metrics, links presigned by boto3. The definitions and the AWS adapters are tested
together; only Lambda (the engine runs the handlers in process) and API Gateway (the
enrichment app serves the financial table on 127.0.0.1, IAM-signed) are stand-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.aws.world import TABLES, World, bucket, build_world

from mrbatch.accesspoint.credentials import generate_credentials
from mrbatch.accesspoint.iam import IamAuth
from mrbatch.accesspoint.server import GatewayServer
from mrbatch.asl import Engine
from mrbatch.asl.store import ExecutionRecord
from mrbatch.aws.spec import AwsRegionSpec
from mrbatch.enrichment.api import build_app, read_financial_csv
from mrbatch.handlers.integrations import (
    BATCHED_PROCESSOR,
    MAIN_ORCHESTRATOR,
    PER_RECORD_PROCESSOR,
    StoreObjects,
    create_state_machines,
    orchestrator_listener,
    register_region_resources,
)
from mrbatch.handlers.region import Region, set_current_region
from mrbatch.handlers.trigger import drive_file
from mrbatch.job import JobOptions, run_job
from mrbatch.notify.ses import SesNotifier
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.routing.dynamodb import DynamoDBRoutingControl
from mrbatch.state import BATCH_STATE, ERRORS, FINANCIALS, DynamoDBTable
from mrbatch.storage import S3ObjectStore

CHUNK = 70
KEY = "input/daily orders:1.csv"
EAST = "us-east-1"


@dataclass
class Deployment:
    """One region on moto, with the engine in place of Step Functions."""

    world: World
    region: Region
    engine: Engine
    arns: dict[str, str]
    processor: str

    def drive(self, key: str, version: str) -> ExecutionRecord:
        """What the object-created function does, with the engine as Step Functions."""
        outcome = drive_file(
            region=EAST,
            key=key,
            version_id=version,
            batch_state=self.region.batch_state,
            routing=self.region.routing,
            start=lambda name, payload: self.engine.start_execution(
                self.arns[MAIN_ORCHESTRATOR], payload, name=name
            ),
        )
        assert outcome.execution_arn is not None, outcome.action
        return self.engine.wait_for(outcome.execution_arn, timeout=120)

    def chunk_runs(self, prefix: str) -> list[dict[str, Any]]:
        """The chunk results of the child executions whose name starts with `prefix`."""
        runs = [r for r in self.engine.list_executions(self.processor) if r.name.startswith(prefix)]
        return sorted((r.output["chunk"] for r in runs), key=lambda chunk: chunk["name"])


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path]:
    return write_sample_files(tmp_path / "sample", "orders", 300, 7, 0.1)


@pytest.fixture(params=[False, True], ids=["batched", "per-record"])
def deployment(
    request: pytest.FixtureRequest, aws: None, sample: tuple[Path, Path], tmp_path: Path
) -> Iterator[Deployment]:
    per_record: bool = request.param
    world = build_world(CHUNK)
    region = AwsRegionSpec(world.settings[EAST]).build()
    financials = DynamoDBTable(
        boto3.client("dynamodb", region_name=EAST), FINANCIALS, table_name=TABLES[FINANCIALS]
    )
    financials.put_many([dict(row) for row in read_financial_csv(sample[1])])
    with ExitStack() as stack:
        set_current_region(region)
        stack.callback(set_current_region, None)
        yield _deploy(stack, world, region, financials, tmp_path, per_record)


def _deploy(
    stack: ExitStack,
    world: World,
    region: Region,
    financials: DynamoDBTable,
    tmp_path: Path,
    per_record: bool,
) -> Deployment:
    """The engine over the region, wired as `LocalRun` wires it: handlers in process, the
    Distributed Map reading the region's bucket, every end recorded on its file (what the
    execution-status rule's function does on AWS)."""
    credentials = generate_credentials()  # the state machine role's, for apigateway:invoke
    endpoint = "http://127.0.0.1:9"  # the batched processor never calls the API
    if per_record:
        api = GatewayServer(build_app(financials, region=EAST, credentials=[credentials]))
        endpoint = api.start().url
        stack.callback(api.stop)
    engine = Engine(
        tmp_path / "workflows.db",
        workers=1,
        region=EAST,
        objects=StoreObjects(region.store),
        listeners=[orchestrator_listener(region)],
    )
    stack.callback(engine.close)
    resources = register_region_resources(
        engine.resources, region, in_process=True, role_auth=IamAuth(credentials, region=EAST)
    )
    stack.callback(resources.close)
    arns = create_state_machines(
        engine, enrichment_endpoint=endpoint, error_table=TABLES[ERRORS], per_record=per_record
    )
    processor = PER_RECORD_PROCESSOR if per_record else BATCHED_PROCESSOR
    return Deployment(world, region, engine, arns, processor)


def _batch_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=EAST)
    return [
        dict(i) for i in DynamoDBTable(client, BATCH_STATE, table_name=TABLES[BATCH_STATE]).scan()
    ]


def _expected(sample: tuple[Path, Path], out: Path) -> bytes:
    summary = run_job(*sample, out, options=JobOptions(chunk_size=CHUNK, workers=1))
    return Path(summary.output).read_bytes()


def test_asl_on_moto_gives_the_process_output_one_email_one_completed_item(
    deployment: Deployment, sample: tuple[Path, Path], tmp_path: Path
) -> None:
    region = deployment.region  # the AWS adapters, not the local ones
    assert isinstance(region.store, S3ObjectStore) and region.store.bucket == bucket(EAST)
    assert isinstance(region.batch_state, DynamoDBTable) and isinstance(
        region.errors, DynamoDBTable
    )
    assert isinstance(region.routing, DynamoDBRoutingControl)
    assert isinstance(region.notifier, SesNotifier)
    version = deployment.world.upload(EAST, KEY, sample[0].read_bytes())
    record = deployment.drive(KEY, version)
    assert record.status.value == "SUCCEEDED", record.cause
    output = deployment.world.s3(EAST).get_object(
        Bucket=bucket(EAST), Key=f"output/completed/{version}/daily orders:1.csv"
    )
    assert output["Body"].read() == _expected(sample, tmp_path / "process")
    [mail] = deployment.world.sent_mail()
    assert version in mail.raw_data
    assert [(i["key"], i["version_id"], i["status"]) for i in _batch_items()] == [
        (KEY, version, "COMPLETED")
    ]
    chunks = deployment.chunk_runs("")
    assert len(chunks) == 5 and not any(chunk["reused"] for chunk in chunks)
    errors = DynamoDBTable(
        boto3.client("dynamodb", region_name=EAST), ERRORS, table_name=TABLES[ERRORS]
    )
    assert len(list(errors.scan())) == 26  # 21 invalid rows, 5 not enriched


def test_second_run_reuses_chunks_and_sends_no_second_email_when_the_file_is_done(
    deployment: Deployment, sample: tuple[Path, Path]
) -> None:
    version = deployment.world.upload(EAST, KEY, sample[0].read_bytes())
    first = deployment.drive(KEY, version)
    before = _batch_items()
    again = deployment.engine.start_execution(
        deployment.arns[MAIN_ORCHESTRATOR], first.input, name="again"
    )
    record = deployment.engine.wait_for(again, timeout=120)
    assert record.status.value == "SUCCEEDED", record.cause
    reused = deployment.chunk_runs("again-")
    assert [chunk["reused"] for chunk in reused] == [True] * 5
    assert sum(chunk["rowsRead"] for chunk in reused) == 300
    assert len(deployment.world.sent_mail()) == 1
    assert record.output["email"]["sent"] is False
    after = _batch_items()
    # the email step marks the file COMPLETED again (same status, region and output; only
    # its timestamps move)
    changed = {k for k in before[0].keys() | after[0].keys() if before[0].get(k) != after[0].get(k)}
    assert len(after) == 1 and changed <= {"updated_at", "completed_at"}, changed
