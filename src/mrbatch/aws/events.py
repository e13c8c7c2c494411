"""The AWS events a function receives, decoded into plain records.

- S3 event notifications (`{"Records": [{"eventSource": "aws:s3", "s3": {...}}]}`, also
  as SQS/SNS deliver them when the body is the notification) and EventBridge's
  `Object Created` events from S3 (`{"source": "aws.s3", "detail": {...}}`): object keys
  arrive URL-encoded (a space as `+`, `:` as `%3A`) and are decoded here; the version id
  is taken from the event, never looked up again (a newer version may exist by then).
- EventBridge's `Step Functions Execution Status Change` events: the execution's input
  (the trigger's `FileRun`), its status, error and cause.

Anything else raises InputFileError naming what was wrong, so a misrouted event fails the
invocation loudly instead of being dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from mrbatch.errors import InputFileError

__all__ = ["ExecutionStatusChange", "ObjectCreated", "execution_status_change", "objects_created"]

_S3_SOURCE, _EVENTBRIDGE_S3 = "aws:s3", "aws.s3"
_STATES_SOURCE = "aws.states"
_STATUS_CHANGE = "Step Functions Execution Status Change"


@dataclass(frozen=True)
class ObjectCreated:
    """One created object version: its bucket, decoded key and version id."""

    bucket: str
    key: str
    version_id: str
    region: str


@dataclass(frozen=True)
class ExecutionStatusChange:
    """An execution that changed status, with its parsed input."""

    execution_arn: str
    status: str
    input: dict[str, Any]
    error: str
    cause: str


def objects_created(event: Mapping[str, Any]) -> list[ObjectCreated]:
    """The object versions an S3 notification or an EventBridge event announces (an S3
    `s3:TestEvent`, sent when notifications are configured, announces none)."""
    if event.get("source") == _EVENTBRIDGE_S3:
        return [_from_eventbridge(event)]
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise InputFileError("event", "neither an S3 notification nor an EventBridge S3 event")
    return [_from_record(record) for record in records]


def _from_record(record: Mapping[str, Any]) -> ObjectCreated:
    if record.get("eventSource") != _S3_SOURCE or not str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    ):
        raise InputFileError("event", f"not an S3 object-created record: {record.get('eventName')}")
    s3 = record["s3"]
    return ObjectCreated(
        bucket=str(s3["bucket"]["name"]),
        key=unquote_plus(str(s3["object"]["key"])),
        version_id=_version(s3["object"].get("versionId")),
        region=str(record.get("awsRegion", "")),
    )


def _from_eventbridge(event: Mapping[str, Any]) -> ObjectCreated:
    if event.get("detail-type") != "Object Created":
        raise InputFileError("event", f"not an Object Created event: {event.get('detail-type')}")
    detail = event["detail"]
    return ObjectCreated(
        bucket=str(detail["bucket"]["name"]),
        key=unquote_plus(str(detail["object"]["key"])),
        version_id=_version(detail["object"].get("version-id")),
        region=str(event.get("region", "")),
    )


def _version(value: object) -> str:
    """The version id; an unversioned bucket's objects have none, which mrbatch refuses:
    a file version is the unit of work, and S3 replication needs versioning anyway."""
    if not value:
        raise InputFileError("event", "the object has no version id: enable bucket versioning")
    return str(value)


def execution_status_change(event: Mapping[str, Any]) -> ExecutionStatusChange:
    """Decode a `Step Functions Execution Status Change` event."""
    if event.get("source") != _STATES_SOURCE or event.get("detail-type") != _STATUS_CHANGE:
        raise InputFileError("event", "not a Step Functions execution status change event")
    detail = event["detail"]
    try:
        payload = json.loads(detail.get("input") or "{}")
    except ValueError as exc:
        raise InputFileError("event", f"execution input is not JSON: {exc}") from exc
    return ExecutionStatusChange(
        execution_arn=str(detail["executionArn"]),
        status=str(detail["status"]),
        input=payload if isinstance(payload, dict) else {},
        error=str(detail.get("error") or ""),
        cause=str(detail.get("cause") or ""),
    )
