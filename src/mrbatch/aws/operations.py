"""The runbook's steps on AWS: activate, wait for replication, reconcile by starting work.

They go through the ports (routing control, batch-state table, trigger) like the local
ones; what is necessarily different is here:

- re-drive: locally, reconciliation re-announces an input on the region's change feed and
  the region's own trigger takes it over. On AWS there is no feed to write to (S3 sends
  its event once), so a re-drive *starts the work directly*: `drive_file`, the trigger's
  own function, claims the file under the current epoch and starts the orchestrator under
  the per-epoch execution name (idempotent: reconciling twice starts nothing new);
- listing inputs: ListObjectVersions, so every version of a key is seen, not only the
  latest (two uploads of one key are two files). For very large buckets an S3 Inventory
  report would replace this listing;
- replication backlog: an unfinished file whose input version is not yet in this
  region's bucket (HeadObject with its VersionId) is still replicating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from mrbatch.handlers import naming
from mrbatch.handlers.batch_state import unfinished_files
from mrbatch.handlers.region import Region
from mrbatch.handlers.trigger import StartExecution, drive_file
from mrbatch.model import BatchFile
from mrbatch.ports import RoutingControl, RoutingState
from mrbatch.runtime.operations.reconcile import ReconcileResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["activate", "input_versions", "pending_replication", "reconcile_on_aws"]


def activate(
    routing: RoutingControl, region: str, reason: str, *, expected_epoch: int
) -> RoutingState:
    """Set (never toggle) the active region, compare-and-set on the epoch the operator
    saw; ConditionFailedError when someone else moved it meanwhile."""
    return routing.set_active(region, reason, expected_epoch=expected_epoch)


def input_versions(s3: S3Client, bucket: str) -> Iterator[tuple[str, str]]:
    """(key, version id) of every object version under `input/` (delete markers are not
    versions of a file)."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=naming.INPUT_PREFIX):
        for version in page.get("Versions", []):
            yield str(version["Key"]), str(version["VersionId"])


def has_version(s3: S3Client, bucket: str, key: str, version_id: str) -> bool:
    """Whether `bucket` holds that exact version (a replica keeps the source's id)."""
    try:
        s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NoSuchVersion"}:
            return False
        raise
    return True


def pending_replication(region: Region, s3: S3Client) -> list[str]:
    """The unfinished files whose input version has not reached `region`'s bucket yet."""
    return [
        file_id
        for file_id, record in unfinished_files([region.batch_state]).items()
        if not has_version(s3, region.store.bucket, record.key, record.version_id)
    ]


def reconcile_on_aws(
    region: Region,
    s3: S3Client,
    start: StartExecution,
    *,
    suffixes: tuple[str, ...] = naming.DEFAULT_INPUT_SUFFIXES,
) -> ReconcileResult:
    """Start every unfinished file whose input version is in `region`'s bucket, and every
    input version there that the batch-state table has no record of (uploads the standby
    stored while the active region was down)."""
    result = ReconcileResult(region.name)
    redrive = _redriver(region, start, suffixes)
    for key, version in input_versions(s3, region.store.bucket):
        if not naming.is_input(key, suffixes):
            continue
        file_id = naming.file_id(key, version)
        if region.batch_state.get({"file_id": file_id}) is None:
            redrive(key, version)
            result.unrecorded.append(file_id)
            result.redriven.append(file_id)
    for file_id, record in unfinished_files([region.batch_state]).items():
        if file_id not in result.unrecorded:  # just started above
            _redrive_recorded(region, s3, record, redrive, result)
    region.metrics.count("ReconciledFiles", len(result.redriven), region=region.name)
    return result


def _redrive_recorded(
    region: Region,
    s3: S3Client,
    record: BatchFile,
    redrive: Callable[[str, str], None],
    result: ReconcileResult,
) -> None:
    if not has_version(s3, region.store.bucket, record.key, record.version_id):
        result.missing.append(record.file_id)  # its replica's event will drive it
        return
    redrive(record.key, record.version_id)
    result.redriven.append(record.file_id)


def _redriver(
    region: Region, start: StartExecution, suffixes: tuple[str, ...]
) -> Callable[[str, str], None]:
    def redrive(key: str, version: str) -> None:
        drive_file(
            region=region.name,
            key=key,
            version_id=version,
            batch_state=region.batch_state,
            routing=region.routing,
            start=start,
            suffixes=suffixes,
        )

    return redrive
