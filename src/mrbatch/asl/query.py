"""JSONata in ASL: `{% ... %}` expressions, `$states`, and the Step Functions functions.

AWS Step Functions evaluates a string value of a JSONata state's field as an expression
when it starts with `{%` and ends with `%}`, anywhere inside the field's JSON; every other
value is a literal. Expressions read `$states` (input, result, errorOutput, context) and
the workflow variables as `$name`. A failing expression fails the state with
States.QueryEvaluationError (catchable, unlike the JSONPath engine's States.Runtime).

The expressions are evaluated by jsonatapy (see pyproject.toml for why that one); this
module only adds what Step Functions adds: `$partition`, `$range`, `$hash`, `$random`
(seedable), `$uuid`, `$parse`, each drawing on the visit's durable random source so a
replay gives the same values.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import jsonatapy

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import QUERY_EVALUATION_ERROR, DefinitionError, StatesError

__all__ = ["check_value", "evaluate_value", "expression", "is_expression"]

_TIMEOUT_MS: Final = 5_000
"""An expression that runs longer than this fails (a runaway `$map` must not hang a run)."""

_HASHES: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}

_rng: ContextVar[random.Random] = ContextVar("_rng")
_cache = threading.local()
_CACHE_SIZE: Final = 4096


def is_expression(value: object) -> bool:
    """AWS: a JSONata expression is a string that starts with `{%` and ends with `%}`."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def expression(text: str) -> str:
    """The expression inside `{% ... %}`."""
    return text[2:-2].strip()


# --- load time -----------------------------------------------------------------------------


def check_value(value: JsonValue, state: str, field: str) -> JsonValue:
    """Compile every expression inside `value` (a syntax error is a DefinitionError)."""
    if is_expression(value):
        try:
            _compiled(expression(value))
        except ValueError as exc:
            raise DefinitionError(
                f"{field}: invalid JSONata expression: {exc}", state=state
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(item, state, f"{field}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_value(item, state, f"{field}/{i}")
    return value


# --- run time ------------------------------------------------------------------------------


def evaluate_value(
    value: JsonValue,
    states: Mapping[str, JsonValue],
    variables: Mapping[str, JsonValue],
    rng: random.Random,
    field: str,
) -> JsonValue:
    """`value` with every `{% %}` string replaced by its expression's result."""
    if is_expression(value):
        return _evaluate(expression(value), states, variables, rng, field)
    if isinstance(value, dict):
        return {
            k: evaluate_value(v, states, variables, rng, f"{field}/{k}") for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            evaluate_value(v, states, variables, rng, f"{field}/{i}") for i, v in enumerate(value)
        ]
    return value


def _evaluate(
    text: str,
    states: Mapping[str, JsonValue],
    variables: Mapping[str, JsonValue],
    rng: random.Random,
    field: str,
) -> JsonValue:
    bindings: dict[str, Any] = dict(variables)
    bindings["states"] = dict(states)
    token = _rng.set(rng)
    try:
        result = _compiled(text).evaluate_json_or_none(None, bindings)
    except (ValueError, TypeError, StatesError) as exc:
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The JSONata expression {text!r} specified for the field {field!r} could not "
            f"be evaluated: {exc}",
        ) from None
    finally:
        _rng.reset(token)
    if result is None:
        # recorded AWS history: "The JSONata expression '$states.input.pushLocation'
        # specified for the field 'Arguments/Input/pushLocation' returned nothing (undefined)."
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The JSONata expression {text!r} specified for the field {field!r} returned "
            "nothing (undefined).",
        )
    return json.loads(result)


def _compiled(text: str) -> jsonatapy.JsonataExpression:
    """The expression compiled once per thread: jsonatapy's compiled expressions may only be
    used on the thread that made them (the loader and the engine's loop are different)."""
    cache: dict[str, jsonatapy.JsonataExpression] = _cache.__dict__.setdefault("compiled", {})
    compiled = cache.get(text)
    if compiled is None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        compiled = cache[text] = _compile(text)
    return compiled


def _compile(text: str) -> jsonatapy.JsonataExpression:
    compiled = jsonatapy.compile(text, timeout=_TIMEOUT_MS)
    for name, function in _FUNCTIONS.items():
        compiled.register(name, function)
    # Step Functions' $random takes an optional seed; JSONata's built-in takes none
    compiled.register_override("random", _random)
    return compiled


# --- the Step Functions functions ----------------------------------------------------------


def _fail(message: str) -> StatesError:
    return StatesError(QUERY_EVALUATION_ERROR, message)


def _partition(array: JsonValue, size: JsonValue) -> JsonValue:
    if not isinstance(array, list) or not _is_int(size) or size <= 0:
        raise _fail("$partition takes an array and a positive integer chunk size")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _range(start: JsonValue, end: JsonValue, step: JsonValue) -> JsonValue:
    if not (_is_int(start) and _is_int(end) and _is_int(step)) or step == 0:
        raise _fail("$range takes integers start, end and a non-zero step")
    stop = end + (1 if step > 0 else -1)  # AWS: the end is included
    return list(range(start, stop, step))


def _hash(data: JsonValue, algorithm: JsonValue) -> JsonValue:
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    name = _HASHES.get(algorithm) if isinstance(algorithm, str) else None
    if name is None:
        raise _fail(f"$hash: unsupported algorithm {algorithm!r} (one of {', '.join(_HASHES)})")
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def _random(seed: JsonValue = None) -> JsonValue:
    if seed is None:
        return _rng.get().random()
    if not _is_int(seed):
        raise _fail("$random: the seed must be an integer")
    return random.Random(seed).random()


def _uuid() -> JsonValue:
    return str(uuid.UUID(int=_rng.get().getrandbits(128), version=4))


def _parse(text: JsonValue) -> JsonValue:
    if not isinstance(text, str):
        raise _fail("$parse takes a string of JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"$parse: not JSON: {exc}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FUNCTIONS: Final[dict[str, Callable[..., JsonValue]]] = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "uuid": _uuid,
    "parse": _parse,
}
