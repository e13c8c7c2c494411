"""The engine's seam to the data-flow modules (paths, intrinsics, choice), plus what they lack.

The loader and the interpreter call these few functions instead of the path, intrinsic and
Choice modules directly, so each rule (which error name a failing InputPath raises, how the
256 KiB payload limit is measured, how a Wait timestamp is parsed) is written once.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

from mrbatch.asl import intrinsics, paths, template
from mrbatch.asl.definition import UNSET, JsonValue
from mrbatch.asl.errors import (
    DATA_LIMIT_EXCEEDED,
    RUNTIME,
    DefinitionError,
    StatesError,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "apply_template",
    "check_path",
    "check_payload_size",
    "check_template",
    "dumps",
    "iso_timestamp",
    "parse_timestamp",
    "select",
]

MAX_PAYLOAD_BYTES: Final = 262_144
"""AWS Step Functions' payload quota: 256 KiB of UTF-8 JSON per state input/output/result."""

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


# --- load time -----------------------------------------------------------------------------


def check_path(
    value: str, state: str, field: str, *, reference: bool = False, intrinsic: bool = False
) -> None:
    """Validate a path field at load (an intrinsic call is allowed where `intrinsic`)."""
    if intrinsic and value.startswith("States."):
        try:
            intrinsics.parse(value)
        except DefinitionError as exc:
            raise DefinitionError(f"{field}: {exc.message}", state=state) from None
        return
    paths.validate_path(value, state=state, field=field, reference=reference)


def check_template(payload: JsonValue, state: str, field: str) -> None:
    """Validate a payload template (Parameters, ResultSelector, ItemSelector) at load."""
    template.validate_payload_template(payload, state=state, field=field)


def parse_timestamp(text: str) -> datetime | None:
    """An RFC3339 timestamp (as Wait and the Timestamp comparisons accept), or None."""
    if not _RFC3339.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def iso_timestamp(ts: float) -> str:
    """Epoch seconds as the context object shows times: `2024-01-02T03:04:05.678Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- run time ------------------------------------------------------------------------------


def select(
    path: str | None,
    data: JsonValue,
    context: JsonValue = None,
    error: str = RUNTIME,
    variables: Mapping[str, JsonValue] | None = None,
) -> JsonValue:
    """InputPath/OutputPath/ItemsPath semantics: `None` (JSON null) gives `{}`."""
    if path is None:
        return {}
    if path == "$":
        return data
    return paths.select(path, data, context=context, error=error, variables=variables)


def apply_template(
    payload: Any,
    data: JsonValue,
    context: JsonValue,
    rng: random.Random,
    *,
    error: str = RUNTIME,
    variables: Mapping[str, JsonValue] | None = None,
) -> JsonValue:
    """Apply a payload template, or pass `data` through when the template is absent.

    A path that selects nothing fails with States.Runtime, as AWS records it ("The JSONPath
    '$.x' specified for the field 'x.$' could not be found in the input"), not with the
    catchable States.ParameterPathFailure the specification names."""
    if payload is UNSET:
        return data
    ev = partial(_evaluate, rng, error, variables)
    return template.apply_payload_template(
        payload, data, context, ev, error=error, variables=variables
    )


def _evaluate(
    rng: random.Random,
    error: str,
    variables: Mapping[str, JsonValue] | None,
    expr: str,
    data: JsonValue,
    context: JsonValue,
) -> JsonValue:
    return intrinsics.evaluate(expr, data, context, rng=rng, path_error=error, variables=variables)


def dumps(value: JsonValue) -> str:
    """Compact JSON as history events and the size limit see it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def check_payload_size(value: JsonValue, what: str, state: str) -> str:
    """Serialise `value`, failing with States.DataLimitExceeded above 256 KiB; returns the JSON."""
    text = dumps(value)
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The {what} of state {state!r} has {size} bytes, more than the "
            f"{MAX_PAYLOAD_BYTES}-byte (256 KiB) limit.",
        )
    return text
