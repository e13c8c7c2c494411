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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import QUERY_EVALUATION_ERROR, StatesError

__all__ = ["NUMBER_FIELDS", "NumberRule", "checked_number"]


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
