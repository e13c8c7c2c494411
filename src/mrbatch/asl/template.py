"""Payload templates (Parameters, ResultSelector, ItemSelector): `"k.$"` fields computed.

A `.$` field's value is a path (paths.py) or an intrinsic call (intrinsics.py); this module
sits above both, so neither has to know the other's caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias

from mrbatch.asl.errors import PARAMETER_PATH_FAILURE, DefinitionError, StatesError
from mrbatch.asl.intrinsics import evaluate
from mrbatch.asl.intrinsics import parse as parse_intrinsic
from mrbatch.asl.paths import select, validate_path

__all__ = ["IntrinsicEval", "apply_payload_template", "validate_payload_template"]

Json: TypeAlias = Any

IntrinsicEval: TypeAlias = Callable[[str, Json, Json], Json]
"""Evaluates an intrinsic call `States.X(...)` against (data, context); see intrinsics.evaluate."""


# --- payload templates (Parameters, ResultSelector, ItemSelector) ----------------------------


def apply_payload_template(
    template: Json,
    data: Json,
    context: Json,
    intrinsic_eval: IntrinsicEval | None = None,
    *,
    error: str = PARAMETER_PATH_FAILURE,
    variables: Mapping[str, Json] | None = None,
) -> Json:
    """Build a payload from a template: `"k.$"` fields become `"k"` with a computed value.

    The value of a `.$` field is a path into `data` (`$...`), into `context` (`$$...`), or an
    intrinsic call (`States.Format(...)`), evaluated with `intrinsic_eval` (default:
    `intrinsics.evaluate` with the system random source; the engine passes one bound to its
    durable random source). Objects and arrays are processed recursively; other fields are
    copied. A path that matches nothing fails with `error`. `$name` paths read `variables`
    (the intrinsic evaluator is expected to be bound to the same variables).

    >>> apply_payload_template({"id.$": "$.n", "k": [{"v.$": "$$.i"}]}, {"n": 1}, {"i": 0})
    {'id': 1, 'k': [{'v': 0}]}
    """
    if intrinsic_eval is None:
        intrinsic_eval = partial(evaluate, variables=variables)
    return _build(template, data, _Env(context, intrinsic_eval, error, variables))


@dataclass(frozen=True)
class _Env:
    """What every `.$` field of one template is evaluated against, besides the data."""

    context: Json
    ev: IntrinsicEval
    error: str
    variables: Mapping[str, Json] | None


def _build(template: Json, data: Json, env: _Env) -> Json:
    if isinstance(template, list):
        return [_build(item, data, env) for item in template]
    if not isinstance(template, dict):
        return template
    out: dict[str, Json] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _dynamic(key, value, data, env)
        else:
            out[key] = _build(value, data, env)
    return out


def _dynamic(key: str, value: Json, data: Json, env: _Env) -> Json:
    if isinstance(value, str) and value.startswith("States."):
        return env.ev(value, data, env.context)
    if isinstance(value, str) and value.startswith("$"):
        return select(value, data, context=env.context, error=env.error, variables=env.variables)
    raise StatesError(env.error, f"field {key!r} needs a path or an intrinsic call, got {value!r}")


def validate_payload_template(template: Json, *, state: str | None, field: str) -> None:
    """Check every `.$` field of a template at load time (path syntax, intrinsic syntax).

    >>> try:
    ...     validate_payload_template({"a": {"b.$": "States.Nope()"}}, state="S", field="P")
    ... except DefinitionError as err:
    ...     print(err)
    state 'S': P.a.b.$: unknown intrinsic function 'States.Nope'
    """
    for where, value in _dynamic_fields(template, field):
        if isinstance(value, str) and value.startswith("States."):
            try:
                parse_intrinsic(value)
            except DefinitionError as exc:
                raise DefinitionError(f"{where}: {exc.message}", state=state) from None
        elif isinstance(value, str) and value.startswith("$"):
            validate_path(value, state=state, field=where)
        else:
            raise DefinitionError(
                f"{where}: expected a path or an intrinsic call, got {value!r}", state=state
            )


def _dynamic_fields(template: Json, where: str) -> Iterator[tuple[str, Json]]:
    if isinstance(template, list):
        for i, item in enumerate(template):
            yield from _dynamic_fields(item, f"{where}[{i}]")
    elif isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                yield f"{where}.{key}", value
            else:
                yield from _dynamic_fields(value, f"{where}.{key}")
