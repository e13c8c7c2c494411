"""ResultWriter: what a Distributed Map returns, and what it exports to the object store.

From the AWS Developer Guide ("ResultWriter (Map)"):

- without ResultWriter the state's result is the array of child outputs (`COMPACT`);
- `WriterConfig.Transformation`: `NONE` gives each child's execution description (its
  metadata, `Input` and `Output` as JSON text); `COMPACT` the outputs; `FLATTEN` the outputs
  with array outputs flattened into the result. A failed child is always described as
  with `NONE`;
- with `Resource: s3:putObject` and `Parameters {Bucket, Prefix}` the results go to
  `<Prefix>/<Map Run id>/` as `SUCCEEDED_0.json`, `FAILED_0.json` (JSON arrays, or `.jsonl`
  with `OutputType: JSONL`) plus a `manifest.json` listing them; the state's result is
  `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}` naming that manifest.

A failed put is States.ResultWriterFailed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mrbatch.asl.dataflow import iso_timestamp
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import RESULT_WRITER_FAILED, StatesError
from mrbatch.asl.objects import ObjectAccess, ObjectAccessError
from mrbatch.asl.store import ExecutionRecord, ExecutionStatus

__all__ = ["describe_child", "inline_result", "write_results"]


def describe_child(record: ExecutionRecord) -> dict[str, JsonValue]:
    """A child execution as the `NONE` transformation shows it."""
    out: dict[str, JsonValue] = {
        "ExecutionArn": record.arn,
        "Input": json.dumps(record.input),
        "InputDetails": {"Included": True},
        "Name": record.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": iso_timestamp(record.start_date),
        "StateMachineArn": record.state_machine_arn,
        "Status": record.status.value,
        "StopDate": iso_timestamp(record.stop_date or record.start_date),
    }
    if record.status is ExecutionStatus.SUCCEEDED:
        out["Output"] = json.dumps(record.output)
        out["OutputDetails"] = {"Included": True}
    else:
        out["Error"] = record.error
        out["Cause"] = record.cause
    return out


def _entry(record: ExecutionRecord, transformation: str) -> list[JsonValue]:
    if transformation == "NONE" or record.status is not ExecutionStatus.SUCCEEDED:
        return [describe_child(record)]
    if transformation == "FLATTEN" and isinstance(record.output, list):
        return list(record.output)
    return [record.output]


def inline_result(children: Sequence[ExecutionRecord], transformation: str) -> list[JsonValue]:
    """The Map's result array when it is not exported (child order)."""
    out: list[JsonValue] = []
    for record in children:
        out.extend(_entry(record, transformation))
    return out


def write_results(
    objects: ObjectAccess | None,
    writer: Mapping[str, Any],
    params: JsonValue,
    map_run_arn: str,
    children: Sequence[ExecutionRecord],
) -> dict[str, JsonValue]:
    """Export the children's results and return the state's result (blocking I/O)."""
    if objects is None:
        raise StatesError(RESULT_WRITER_FAILED, "this engine has no object store to write to")
    if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
        raise StatesError(RESULT_WRITER_FAILED, "ResultWriter Parameters need a Bucket string")
    config = writer.get("WriterConfig") or {}
    transformation = config.get("Transformation", "NONE")
    jsonl = config.get("OutputType", "JSON") == "JSONL"
    bucket, prefix = params["Bucket"], str(params.get("Prefix", "")).strip("/")
    folder = "/".join(p for p in (prefix, map_run_arn.rsplit(":", 1)[-1]) if p)
    files: dict[str, list[JsonValue]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    try:
        for status in ("SUCCEEDED", "FAILED"):
            group = [c for c in children if (c.status is ExecutionStatus.SUCCEEDED)
                     == (status == "SUCCEEDED")]  # fmt: skip
            if not group:
                continue
            key = f"{folder}/{status}_0.{'jsonl' if jsonl else 'json'}"
            data = _encode(inline_result(group, transformation), jsonl)
            objects.put_object(bucket, key, data)
            files[status].append({"Key": key, "Size": len(data)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
        manifest_key = f"{folder}/manifest.json"
        objects.put_object(bucket, manifest_key, json.dumps(manifest).encode())
    except ObjectAccessError as exc:
        raise StatesError(RESULT_WRITER_FAILED, str(exc)) from None
    return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket,
                                                              "Key": manifest_key}}  # fmt: skip


def _encode(entries: list[JsonValue], jsonl: bool) -> bytes:
    if jsonl:
        return "".join(json.dumps(e) + "\n" for e in entries).encode()
    return json.dumps(entries).encode()
