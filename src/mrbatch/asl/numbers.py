"""The numeric fields a JSONata state may compute, and the range each value must fall in.

A JSONata state may give TimeoutSeconds, HeartbeatSeconds, Wait Seconds, MaxConcurrency,
ToleratedFailureCount/Percentage, ReaderConfig.MaxItems and ItemBatcher's MaxItemsPerBatch /
MaxInputBytesPerBatch as `{% %}` expressions (AWS recorded TimeoutSeconds, HeartbeatSeconds,
MaxConcurrency and both tolerated-failure fields as expressions: LocalStack's AWS-validated
test_base_evaluate_expressions). The literal forms are checked at load; an expression's value
is checked here, when the state runs, against the same rule: a value of the wrong type or out
of range fails the state with States.QueryEvaluationError (AWS, Error handling: "Query
evaluation failed in a JSONata state, for example a type error"). AWS's exact cause text for
these cases is not recorded; ours names the expression, the field, the value and the rule.

A JSONPath state reads the same numbers through `…Path` fields (`path_number`). There AWS
fails a value that is no number of the field's kind with States.Runtime, in words recorded by
LocalStack's AWS-validated snapshots (test_base_scenarios: MaxConcurrencyPath,
ToleratedFailureCountPath, ToleratedFailurePercentagePath, MaxItemsPath); `PATH_FIELDS` keeps
those words, and says where a case is not recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import ITEM_READER_FAILED, QUERY_EVALUATION_ERROR, RUNTIME, StatesError

__all__ = [
    "NUMBER_FIELDS",
    "PATH_FIELDS",
    "NumberRule",
    "PathRule",
    "checked_number",
    "path_number",
]


@dataclass(frozen=True)
class NumberRule:
    """What a numeric field accepts: an integer (or any number) in [minimum, maximum]."""

    minimum: float
    maximum: float | None = None
    integer: bool = True

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.maximum is None:
            return f"{kind} >= {self.minimum:g}"
        return f"{kind} from {self.minimum:g} to {self.maximum:g}"


NUMBER_FIELDS: Final[dict[str, NumberRule]] = {
    "TimeoutSeconds": NumberRule(1, 99_999_999),
    "HeartbeatSeconds": NumberRule(1, 99_999_999),
    "Seconds": NumberRule(0, 99_999_999),
    "MaxConcurrency": NumberRule(0),
    "ToleratedFailureCount": NumberRule(0),
    "ToleratedFailurePercentage": NumberRule(0, 100, integer=False),
    "MaxItems": NumberRule(1, 100_000_000),  # AWS (ItemReader): "a limit of up to 100,000,000"
    "MaxItemsPerBatch": NumberRule(1),
    # AWS (ItemBatcher): "The maximum size of a batch is 256 KiB"
    "MaxInputBytesPerBatch": NumberRule(1, 256 * 1024),
}
"""The fields a JSONata state may compute, keyed by their name in the definition."""


def checked_number(field: str, value: JsonValue, expression: str) -> int | float:
    """`value` (what `expression` gave for `field`) when it fits the field's rule, as an int
    for an integer field (JSONata has one number type: 5.0 is the integer 5); otherwise
    States.QueryEvaluationError."""
    rule = NUMBER_FIELDS[field]
    number = _number(value, integer=rule.integer)
    if (
        number is None
        or number < rule.minimum
        or (rule.maximum is not None and number > rule.maximum)
    ):
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The JSONata expression {expression!r} specified for the field {field!r} "
            f"returned {json.dumps(value)}; {field} must be {rule.describe()}.",
        )
    return number


def _number(value: JsonValue, *, integer: bool) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not integer:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


@dataclass(frozen=True)
class PathRule:
    """What a `…Path` field accepts: an integer (else any number) for which `fits` holds;
    otherwise `error` with `cause` (formatted with the value)."""

    integer: bool
    fits: Callable[[float], bool]
    cause: str
    error: str = RUNTIME


def _positive_integer(field: str) -> PathRule:
    # Not recorded against AWS: the cause when a seconds or batch field is below 1.
    return PathRule(True, lambda n: n >= 1, f"{field} must be a positive integer, got '{{}}'.")


PATH_FIELDS: Final[dict[str, PathRule]] = {
    # Recorded (test_max_concurrency_path_negative): AWS's execution stalls after
    # ExecutionStarted on -1; failing says why, so we fail, in LocalStack's words.
    "MaxConcurrencyPath": PathRule(
        True,
        lambda n: n >= 0,
        "Expected non-negative integer for MaxConcurrency, got '{}' instead.",
    ),
    # Recorded: -1 is "ToleratedFailureCount cannot be negative."
    "ToleratedFailureCountPath": PathRule(
        True, lambda n: n >= 0, "ToleratedFailureCount cannot be negative."
    ),
    # Recorded: -1, -1.1 and 100.1 are "... must be between 0 and 100."; 1.1 and 100 run.
    "ToleratedFailurePercentagePath": PathRule(
        False, lambda n: 0 <= n <= 100, "ToleratedFailurePercentage must be between 0 and 100."
    ),
    # Recorded: -1 fails the reader (States.ItemReaderFailed, after MapRunStarted on AWS);
    # 0 and 100,000,001 read every item (the caller reads 0 as no limit).
    "MaxItemsPath": PathRule(
        True, lambda n: n >= 0, "field MaxItems must be positive", ITEM_READER_FAILED
    ),
    "MaxItemsPerBatchPath": _positive_integer("MaxItemsPerBatch"),
    "MaxInputBytesPerBatchPath": PathRule(
        True,
        lambda n: 1 <= n <= 256 * 1024,
        "MaxInputBytesPerBatch must be an integer from 1 to 262144, got '{}'.",
    ),
    "TimeoutSecondsPath": _positive_integer("TimeoutSeconds"),
    "HeartbeatSecondsPath": _positive_integer("HeartbeatSeconds"),
}
"""The numeric `…Path` fields of JSONPath states (Wait's SecondsPath has its own words)."""


def path_number(field: str, value: JsonValue, path: str) -> int | float:
    """`value` (what `path` selected for `field`, a key of `PATH_FIELDS`) when it fits the
    field's rule. A value that is no number of the field's kind is States.Runtime, "The
    <field> field refers to value "<value>" which is not a valid integer: <path>" (recorded
    AWS; "valid float" for a percentage); one out of range fails as the rule says. A float
    is no integer here, even 5.0: AWS refuses "1.5" and JSON from JSONPath keeps the kind.
    """
    rule = PATH_FIELDS[field]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (rule.integer and not isinstance(value, int))
    ):
        shown = value if isinstance(value, str) else json.dumps(value)
        kind = "integer" if rule.integer else "float"
        raise StatesError(
            RUNTIME,
            f'The {field} field refers to value "{shown}" which is not a valid {kind}: {path}',
        )
    if not rule.fits(value):
        raise StatesError(rule.error, rule.cause.format(value))
    return value
