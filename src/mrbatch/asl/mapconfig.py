"""Load-time checks of a Distributed Map's own fields: ProcessorConfig, ItemReader,
ItemBatcher, ResultWriter and Label.

Kept apart from `mrbatch.asl.loader` so the loader stays one concern (the state graph) and
these rules, all from the AWS Developer Guide pages of the same names, live together:

- `ProcessorConfig.Mode` is `INLINE` (the default) or `DISTRIBUTED`; a Distributed Map
  names its child executions' `ExecutionType` (`STANDARD` or `EXPRESS`).
- `ItemReader`, `ItemBatcher` and `ResultWriter` belong to the Distributed Map only.
- An `ItemReader` reads with `s3:getObject` (`ReaderConfig.InputType` CSV, JSON, JSONL or
  MANIFEST) or lists with `s3:listObjectsV2`; its `Parameters` name the bucket.
- `MaxInputBytesPerBatch` is at most 256 KiB, the payload quota a child's input must fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mrbatch.asl import dataflow
from mrbatch.asl.definition import Distributed, JsonValue
from mrbatch.asl.errors import DefinitionError

__all__ = [
    "GET_OBJECT",
    "INPUT_TYPES",
    "LIST_OBJECTS",
    "MAX_BATCH_BYTES",
    "PUT_OBJECT",
    "parse_distributed",
]

GET_OBJECT: Final = "arn:aws:states:::s3:getObject"
LIST_OBJECTS: Final = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT: Final = "arn:aws:states:::s3:putObject"
INPUT_TYPES: Final = frozenset({"CSV", "JSON", "JSONL", "MANIFEST"})
MAX_BATCH_BYTES: Final = 256 * 1024
"""ItemBatcher: "The maximum size of a batch is 256 KiB" (the payload quota)."""

_DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter")
_READER = {"Resource", "ReaderConfig", "Parameters"}
_READER_CONFIG = {"InputType", "CSVHeaderLocation", "CSVHeaders", "MaxItems", "MaxItemsPath"}
_BATCHER = {
    "MaxItemsPerBatch",
    "MaxItemsPerBatchPath",
    "MaxInputBytesPerBatch",
    "MaxInputBytesPerBatchPath",
    "BatchInput",
}
_WRITER = {"Resource", "Parameters", "WriterConfig"}
_WRITER_CONFIG = {"OutputType", "Transformation"}


def parse_distributed(
    name: str, raw: Mapping[str, Any], processor: Mapping[str, Any]
) -> Distributed | None:
    """The Distributed Map fields of Map state `name` (None for an inline Map); raises
    DefinitionError for what AWS rejects. `processor` is the ItemProcessor object."""
    config = processor.get("ProcessorConfig") or {}
    if not isinstance(config, dict):
        raise DefinitionError("ProcessorConfig must be an object", state=name)
    _only(config, {"Mode", "ExecutionType"}, name, "ProcessorConfig")
    mode = config.get("Mode", "INLINE")
    if mode == "INLINE":
        for field in (*_DISTRIBUTED_ONLY, "Label"):
            if field in raw:
                raise DefinitionError(f"{field} needs ProcessorConfig.Mode DISTRIBUTED", state=name)
        return None
    if mode != "DISTRIBUTED":
        raise DefinitionError(f"ProcessorConfig.Mode must be INLINE or DISTRIBUTED, not {mode!r}",
                              state=name)  # fmt: skip
    execution_type = config.get("ExecutionType")
    if execution_type not in ("STANDARD", "EXPRESS"):
        raise DefinitionError(
            "a DISTRIBUTED Map needs ProcessorConfig.ExecutionType STANDARD or EXPRESS", state=name
        )
    label = raw.get("Label")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= 40):
        raise DefinitionError("Label must be a string of 1 to 40 characters", state=name)
    body = {k: v for k, v in processor.items() if k != "ProcessorConfig"}
    return Distributed(
        execution_type=execution_type,
        processor=body,
        label=label,
        item_reader=_reader(raw.get("ItemReader"), name),
        item_batcher=_batcher(raw.get("ItemBatcher"), name),
        result_writer=_writer(raw.get("ResultWriter"), name),
    )


def _only(raw: Mapping[str, Any], allowed: set[str], state: str, what: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise DefinitionError(f"{what} has unknown field(s): {', '.join(unknown)}", state=state)


def _object(value: JsonValue, state: str, what: str, allowed: set[str]) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise DefinitionError(f"{what} must be an object", state=state)
    _only(value, allowed, state, what)
    return value


def _reader(value: JsonValue, state: str) -> dict[str, JsonValue] | None:
    if value is None:
        return None
    reader = _object(value, state, "ItemReader", _READER)
    config = _object(reader.get("ReaderConfig", {}), state, "ReaderConfig", _READER_CONFIG)
    params = reader.get("Parameters")
    if not isinstance(params, dict):
        raise DefinitionError("ItemReader needs Parameters (Bucket, ...)", state=state)
    dataflow.check_template(params, state, "ItemReader.Parameters")
    resource = reader.get("Resource")
    if resource == LIST_OBJECTS:
        if "InputType" in config:
            raise DefinitionError("s3:listObjectsV2 takes no ReaderConfig.InputType", state=state)
    elif resource == GET_OBJECT:
        if config.get("InputType") not in INPUT_TYPES:
            raise DefinitionError(
                f"s3:getObject needs ReaderConfig.InputType, one of {sorted(INPUT_TYPES)}",
                state=state,
            )
        _csv_header(config, state)
    else:
        raise DefinitionError(
            f"ItemReader.Resource must be {GET_OBJECT} or {LIST_OBJECTS}, not {resource!r}",
            state=state,
        )
    _positive(config, "MaxItems", state)
    return reader


def _csv_header(config: Mapping[str, JsonValue], state: str) -> None:
    location = config.get("CSVHeaderLocation")
    if config.get("InputType") != "CSV":
        if location is not None or "CSVHeaders" in config:
            raise DefinitionError("CSVHeaderLocation/CSVHeaders need InputType CSV", state=state)
        return
    if location not in ("FIRST_ROW", "GIVEN"):
        raise DefinitionError("CSV needs CSVHeaderLocation FIRST_ROW or GIVEN", state=state)
    headers = config.get("CSVHeaders")
    if location == "GIVEN" and (
        not isinstance(headers, list) or not headers or not all(isinstance(h, str) for h in headers)
    ):
        raise DefinitionError("CSVHeaderLocation GIVEN needs CSVHeaders (strings)", state=state)
    if location == "FIRST_ROW" and headers is not None:
        raise DefinitionError("CSVHeaders is only for CSVHeaderLocation GIVEN", state=state)


def _positive(raw: Mapping[str, JsonValue], key: str, state: str, most: int | None = None) -> None:
    value = raw.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DefinitionError(f"{key} must be a positive integer", state=state)
    if most is not None and value > most:
        raise DefinitionError(f"{key} must be at most {most}", state=state)


def _batcher(value: JsonValue, state: str) -> dict[str, JsonValue] | None:
    if value is None:
        return None
    batcher = _object(value, state, "ItemBatcher", _BATCHER)
    if not {"MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath"} & set(batcher):  # fmt: skip
        raise DefinitionError(
            "ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path)",
            state=state,
        )
    _positive(batcher, "MaxItemsPerBatch", state)
    _positive(batcher, "MaxInputBytesPerBatch", state, MAX_BATCH_BYTES)
    for key in ("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"):
        if key in batcher:
            dataflow.check_path(batcher[key], state, key, reference=True)
    if "BatchInput" in batcher:
        dataflow.check_template(batcher["BatchInput"], state, "BatchInput")
    return batcher


def _writer(value: JsonValue, state: str) -> dict[str, JsonValue] | None:
    if value is None:
        return None
    writer = _object(value, state, "ResultWriter", _WRITER)
    config = _object(writer.get("WriterConfig", {}), state, "WriterConfig", _WRITER_CONFIG)
    if config.get("OutputType", "JSON") not in ("JSON", "JSONL"):
        raise DefinitionError("WriterConfig.OutputType must be JSON or JSONL", state=state)
    if config.get("Transformation", "NONE") not in ("NONE", "COMPACT", "FLATTEN"):
        raise DefinitionError(
            "WriterConfig.Transformation must be NONE, COMPACT or FLATTEN", state=state
        )
    has_target = "Resource" in writer or "Parameters" in writer
    if not has_target and "WriterConfig" not in writer:
        raise DefinitionError("ResultWriter needs Resource and Parameters, or WriterConfig",
                              state=state)  # fmt: skip
    if has_target:
        if writer.get("Resource") != PUT_OBJECT:
            raise DefinitionError(f"ResultWriter.Resource must be {PUT_OBJECT}", state=state)
        params = writer.get("Parameters")
        if not isinstance(params, dict):
            raise DefinitionError("ResultWriter needs Parameters (Bucket, Prefix)", state=state)
        dataflow.check_template(params, state, "ResultWriter.Parameters")
    return writer
