"""Where a JSONata state may read `$states.result` and `$states.errorOutput`, checked at load.

AWS (Passing data between states with variables, "Reserved variable: $states"): `result` is
the "API or sub-workflow's result (if successful)", so only the Output and Assign of a Task,
Parallel or Map state see it; `errorOutput` is the "Error Output (only available in a
Catch)", so only a catcher's Output and Assign see it. "Attempting to access $states.result
or $states.errorOutput in fields and states where they are not accessible will be caught at
creation, update, or validation of the state machine": the message follows the shape of
AWS's InvalidDefinition diagnostics (code, message, `at /States/<state>/<field>`).

The check reads the expression text, so a reference hidden from it (`$lookup($states,
'result')`) is not caught; it then fails at run time as undefined.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from mrbatch.asl import query
from mrbatch.asl.errors import DefinitionError

__all__ = ["check_reserved"]

_READS: Final = {
    name: re.compile(r"\$states\s*\.\s*" + name + r"\b") for name in ("result", "errorOutput")
}
_WHERE: Final = {
    "result": "the Output and Assign of a Task, Parallel or Map state",
    "errorOutput": "the Output and Assign of a Catch",
}
_WITH_RESULT: Final = frozenset({"Task", "Parallel", "Map"})
_NESTED: Final = frozenset({"ItemProcessor", "Iterator", "Branches"})
"""Fields holding states of their own, which are checked as states."""


def check_reserved(raw: Mapping[str, Any], state: str) -> None:
    """Raise DefinitionError when a field of JSONata state `state` reads a `$states` field
    AWS does not make available there."""
    for path, value, allowed in _fields(raw):
        for expression in _expressions(value, path):
            for name, reads in _READS.items():
                if name not in allowed and reads.search(expression[1]):
                    raise DefinitionError(
                        f"SCHEMA_VALIDATION_FAILED: $states.{name} is not available in this "
                        f"field (only in {_WHERE[name]}) at /States/{state}/{expression[0]}",
                        state=state,
                    )


def _fields(raw: Mapping[str, Any]) -> Iterator[tuple[str, Any, frozenset[str]]]:
    """(path, value, the `$states` fields it may read) of every field of the state."""
    with_result = raw.get("Type") in _WITH_RESULT
    for field, value in raw.items():
        if field in _NESTED:
            continue
        if field == "Catch" and isinstance(value, list):
            for i, catcher in enumerate(value):
                if isinstance(catcher, dict):
                    for key, part in catcher.items():
                        yield f"Catch/{i}/{key}", part, frozenset({"errorOutput"})
            continue
        own = with_result and field in ("Output", "Assign")
        yield field, value, frozenset({"result"}) if own else frozenset()


def _expressions(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every `{% %}` expression inside `value`."""
    if query.is_expression(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expressions(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _expressions(item, f"{path}/{i}")
