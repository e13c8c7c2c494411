"""Wiring the workflows to a region: handler functions, integrations, state machines.

The region process (and `mrbatch run-local`) does three things with an `Engine`:

    resources = register_region_resources(engine.resources, region)
    arns = create_state_machines(engine, enrichment_endpoint=api_url, error_table="errors")
    ...                                   # start "main_orchestrator" executions
    resources.close()

`register_region_resources` registers the Lambda-style handlers under the function names
in `FUNCTION_NAMES` (they find their `Region` through `current_region()`, so worker
processes build it from the `LocalRegionSpec` their initializer installs, see
`handlers.region`) and the `dynamodb:*` and
`apigateway:invoke` integrations over `region`'s tables. `definition_substitutions` gives
the `${...}` values the three definitions use, as SAM's DefinitionSubstitutions would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from mrbatch.asl import ResourceRegistry
from mrbatch.asl.objects import ListedObject, ObjectAccessError
from mrbatch.asl.resources import FunctionBody
from mrbatch.asl.store import ExecutionRecord
from mrbatch.errors import StorageError
from mrbatch.handlers import payloads, per_record, steps
from mrbatch.handlers.apigateway_integration import ApiGatewayIntegration
from mrbatch.handlers.dynamodb_integration import DynamoDBIntegration
from mrbatch.handlers.region import Region
from mrbatch.ports import ObjectStore, Table

if TYPE_CHECKING:
    from mrbatch.asl import Engine

__all__ = [
    "BATCHED_PROCESSOR",
    "DEFINITIONS_DIR",
    "FUNCTION_NAMES",
    "MAIN_ORCHESTRATOR",
    "PER_RECORD_PROCESSOR",
    "RegionResources",
    "StoreObjects",
    "create_state_machines",
    "definition_substitutions",
    "orchestrator_listener",
    "register_region_resources",
]

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "workflows" / "definitions"
MAIN_ORCHESTRATOR = "main_orchestrator"
BATCHED_PROCESSOR = "chunk_processor_batched"
PER_RECORD_PROCESSOR = "chunk_processor"

# Definition placeholder -> (Lambda function name, handler).
FUNCTION_NAMES: dict[str, tuple[str, FunctionBody]] = {
    "SplitInputFileFunctionArn": ("mrbatch-split-input-file", steps.split_input_file),
    "ProcessChunkFunctionArn": ("mrbatch-process-chunk", steps.process_chunk_batched),
    "MergeAllFilesFunctionArn": ("mrbatch-merge-all-files", steps.merge_all_files),
    "EmailTheFileFunctionArn": ("mrbatch-email-the-file", steps.email_the_file),
    "RecordFailedFileFunctionArn": ("mrbatch-record-failed-file", steps.record_failed_file),
    "ReadFileFunctionArn": ("mrbatch-read-file", per_record.read_file),
    "ValidateDataFunctionArn": ("mrbatch-validate-data", per_record.validate_data),
    "WriteOutputFileFunctionArn": ("mrbatch-write-output-file", per_record.write_output_file),
}  # fmt: skip


class StoreObjects:
    """A region's bucket as the engine's `ObjectAccess` (Distributed Map ItemReader and
    ResultWriter): S3's `s3:getObject`, `s3:listObjectsV2` and `s3:putObject` over the
    `ObjectStore` port. Only the region's own bucket exists here; store errors become
    `ObjectAccessError`, which the engine reports as States.ItemReaderFailed or
    States.ResultWriterFailed."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _check(self, bucket: str) -> None:
        if bucket != self.store.bucket:
            raise ObjectAccessError(f"NoSuchBucket: {bucket} (this region has {self.store.bucket})")

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        self._check(bucket)
        try:
            info, body = self.store.get(key)
            with body:
                if version_id is not None and info.version_id != version_id:
                    raise ObjectAccessError(f"NoSuchVersion: s3://{bucket}/{key}?{version_id}")
                return body.read()
        except StorageError as exc:
            raise ObjectAccessError(f"s3://{bucket}/{key}: {exc}") from exc

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ListedObject]:
        self._check(bucket)
        try:
            for info in self.store.list(prefix):
                yield {
                    "Etag": f'"{info.etag}"',
                    "Key": info.key,
                    "LastModified": int(info.last_modified),
                    "Size": info.size,
                    "StorageClass": "STANDARD",
                }
        except StorageError as exc:
            raise ObjectAccessError(f"s3://{bucket}/{prefix}: {exc}") from exc

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        self._check(bucket)
        try:
            self.store.put(key, data)
        except StorageError as exc:
            raise ObjectAccessError(f"s3://{bucket}/{key}: {exc}") from exc


def orchestrator_listener(region: Region) -> Callable[[ExecutionRecord], None]:
    """The engine listener that records how every main orchestrator execution ended on its
    file (`steps.record_execution_end`): locally what an EventBridge rule on Step Functions
    execution status changes, targeting that handler, is on AWS."""
    suffix = f":stateMachine:{MAIN_ORCHESTRATOR}"

    def listener(record: ExecutionRecord) -> None:
        if not record.state_machine_arn.endswith(suffix):
            return
        end: payloads.ExecutionEnd = {
            "executionArn": record.arn,
            "stateMachineArn": record.state_machine_arn,
            "name": record.name,
            "status": record.status.value,
            "input": json.dumps(record.input),
            "error": record.error,
            "cause": record.cause,
        }
        steps.record_execution_end(region, end)

    return listener


class RegionResources:
    """What `register_region_resources` set up; `close()` releases the HTTP connections."""

    def __init__(self, dynamodb: DynamoDBIntegration, apigateway: ApiGatewayIntegration) -> None:
        self.dynamodb = dynamodb
        self.apigateway = apigateway

    def close(self) -> None:
        """Close the API Gateway integration's connection pool (idempotent)."""
        self.apigateway.close()


def register_region_resources(
    registry: ResourceRegistry,
    region: Region,
    *,
    in_process: bool = False,
    extra_tables: Mapping[str, Table] | None = None,
    role_auth: httpx.Auth | None = None,
) -> RegionResources:
    """Register every handler function and the region's integrations in `registry`.

    `in_process=True` runs the handlers on threads of the engine process (they then use the
    region installed with `set_current_region`); by default they run on the engine's worker
    pool. The `dynamodb:*` integrations reach `region.batch_state`, `region.errors` and
    `extra_tables` by table name; `apigateway:invoke` signs `IAM_ROLE` calls with
    `role_auth` (the state machine's role, on AWS)."""
    for name, body in FUNCTION_NAMES.values():
        registry.register_function(name, body, in_process=in_process)
    tables = {table.name: table for table in (region.batch_state, region.errors)}
    tables.update(extra_tables or {})
    dynamodb = DynamoDBIntegration(tables)
    apigateway = ApiGatewayIntegration(role_auth=role_auth)
    registry.register_integration("dynamodb:putItem", dynamodb.put_item)
    registry.register_integration("dynamodb:getItem", dynamodb.get_item)
    registry.register_integration("dynamodb:updateItem", dynamodb.update_item)
    registry.register_integration("dynamodb:deleteItem", dynamodb.delete_item)
    registry.register_integration("apigateway:invoke", apigateway.invoke)
    return RegionResources(dynamodb, apigateway)


def definition_substitutions(
    *,
    enrichment_endpoint: str,
    error_table: str = "errors",
    per_record: bool = False,
    aws_region: str = "us-east-1",
    account: str = "123456789012",
) -> dict[str, str]:
    """The `${...}` values of the three definitions. The main orchestrator's chunk processor
    is the batched one unless `per_record`."""
    values = {
        placeholder: f"arn:aws:lambda:{aws_region}:{account}:function:{name}"
        for placeholder, (name, _body) in FUNCTION_NAMES.items()
    }
    processor = PER_RECORD_PROCESSOR if per_record else BATCHED_PROCESSOR
    values["ChunkProcessorStateMachineArn"] = (
        f"arn:aws:states:{aws_region}:{account}:stateMachine:{processor}"
    )
    values["ErrorTableName"] = error_table
    values["EnrichmentApiEndpoint"] = enrichment_endpoint
    return values


def create_state_machines(
    engine: Engine,
    *,
    enrichment_endpoint: str,
    error_table: str = "errors",
    per_record: bool = False,
) -> dict[str, str]:
    """Create (or update) "main_orchestrator", "chunk_processor" and
    "chunk_processor_batched" in `engine`; returns their ARNs by name."""
    substitutions = definition_substitutions(
        enrichment_endpoint=enrichment_endpoint,
        error_table=error_table,
        per_record=per_record,
        aws_region=engine.region,
        account=engine.account,
    )
    return {
        name: engine.create_state_machine(
            name, DEFINITIONS_DIR / f"{name}.asl.json", substitutions=substitutions
        )
        for name in (BATCHED_PROCESSOR, PER_RECORD_PROCESSOR, MAIN_ORCHESTRATOR)
    }
