"""ItemReader: the items of a Distributed Map, read from an object store.

What each source gives, as the AWS Developer Guide ("ItemReader (Map)") describes it:

- `s3:listObjectsV2` over `Parameters.Prefix`: one item per object, `{"Etag", "Key",
  "LastModified", "Size", "StorageClass"}`.
- `s3:getObject` with `ReaderConfig.InputType`:
  - `JSON`: the object is a JSON array; its elements are the items.
  - `JSONL`: one JSON value per non-blank line.
  - `CSV`: one object per row, keyed by the header (the first row with `FIRST_ROW`, the
    `CSVHeaders` list with `GIVEN`), every value a string.
  - `MANIFEST`: an S3 Inventory `manifest.json`; its `files` (CSV, optionally gzip) are read
    in order from the manifest's destination bucket, one item per row keyed by the names
    in `fileSchema`.

`ReaderConfig.MaxItems` keeps the first items only. Any failure (a missing object, a body
that does not parse) is States.ItemReaderFailed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import ITEM_READER_FAILED, StatesError
from mrbatch.asl.mapconfig import LIST_OBJECTS
from mrbatch.asl.objects import ObjectAccess, ObjectAccessError

__all__ = ["read_items"]


def read_items(
    objects: ObjectAccess | None,
    resource: str,
    config: Mapping[str, Any],
    params: JsonValue,
    max_items: int | None,
) -> list[JsonValue]:
    """The items an ItemReader gives (blocking I/O; call it off the event loop)."""
    if objects is None:
        raise StatesError(
            ITEM_READER_FAILED, "this engine has no object store: ItemReader cannot read"
        )
    if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
        raise StatesError(ITEM_READER_FAILED, "ItemReader Parameters need a Bucket string")
    bucket = params["Bucket"]
    try:
        if resource == LIST_OBJECTS:
            items: Iterator[JsonValue] = iter(
                objects.list_objects(bucket, str(params.get("Prefix", "")))
            )
        else:
            key = params.get("Key")
            if not isinstance(key, str):
                raise StatesError(ITEM_READER_FAILED, "s3:getObject needs a Key string")
            data = objects.get_object(bucket, key, params.get("VersionId"))
            items = _parse(objects, data, config, f"s3://{bucket}/{key}")
        return _first(items, max_items)
    except ObjectAccessError as exc:
        raise StatesError(ITEM_READER_FAILED, str(exc)) from None
    except (ValueError, UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
        raise StatesError(ITEM_READER_FAILED, f"cannot read the items: {exc}") from None


def _first(items: Iterator[JsonValue], max_items: int | None) -> list[JsonValue]:
    out: list[JsonValue] = []
    for item in items:
        if max_items is not None and len(out) >= max_items:
            break
        out.append(item)
    return out


def _parse(
    objects: ObjectAccess, data: bytes, config: Mapping[str, Any], where: str
) -> Iterator[JsonValue]:
    kind = config["InputType"]
    if kind == "JSON":
        value = json.loads(data)
        if not isinstance(value, list):
            raise StatesError(ITEM_READER_FAILED, f"{where} holds {type(value).__name__}, "
                              "not a JSON array")  # fmt: skip
        return iter(value)
    if kind == "JSONL":
        return (json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip())
    if kind == "CSV":
        given = config.get("CSVHeaders") if config.get("CSVHeaderLocation") == "GIVEN" else None
        return _csv_rows(data, given, where)
    return _manifest(objects, data, where)


def _csv_rows(data: bytes, header: list[str] | None, where: str) -> Iterator[JsonValue]:
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    if header is None:
        header = next(rows, None)
        if header is None:
            return
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != len(header):
            raise StatesError(
                ITEM_READER_FAILED,
                f"{where}: row {number} has {len(row)} fields, the header {len(header)}",
            )
        yield dict(zip(header, row, strict=True))


def _manifest(objects: ObjectAccess, data: bytes, where: str) -> Iterator[JsonValue]:
    manifest = json.loads(data)
    if not isinstance(manifest, dict) or manifest.get("fileFormat") != "CSV":
        raise StatesError(ITEM_READER_FAILED, f"{where} is not a CSV S3 Inventory manifest")
    schema = [name.strip() for name in str(manifest.get("fileSchema", "")).split(",")]
    bucket = str(manifest.get("destinationBucket", "")).removeprefix("arn:aws:s3:::")
    for entry in manifest.get("files") or []:
        body = objects.get_object(bucket, str(entry["key"]))
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        yield from _csv_rows(body, schema, f"s3://{bucket}/{entry['key']}")
