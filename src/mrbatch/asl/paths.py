"""JSONPath as AWS Step Functions uses it: selecting and ResultPath (templates: template.py).

Step Functions evaluates paths with Jayway JsonPath semantics: a *definite* path (only fields and
single indices) names one node and fails when that node is missing; an *indefinite* path (a
wildcard, a filter, a slice, a union or `..`) returns a list of every match, possibly empty.
`$` is the state's data and `$$` the context object. *Reference paths* (ResultPath, Choice
`Variable`) are definite paths without negative indices or functions.

The parser is our own (~300 lines) rather than jsonpath-ng because the engine needs exactly these
Jayway semantics (definite vs indefinite results, `length()`, negative indices, filters with
`&&`/`||`) and a typed AST it can validate at load time and cache; jsonpath-ng's extended parser
differs on several of them (it always returns a match list, filter syntax differs, `$$` is not a
root) and would bring a PLY grammar whose errors are not meant for a person.

Values are JSON data (dict, list, str, int, float, bool, None) and are treated as immutable:
`apply_result_path` shares unchanged sub-trees with its input instead of deep-copying, so callers
must not mutate a value after passing it in.

>>> select("$.a[1].b", {"a": [{}, {"b": 7}]})
7
>>> select("$.a[*].b", {"a": [{"b": 1}, {"c": 2}, {"b": 3}]})
[1, 3]
>>> apply_result_path({"x": 1}, "done", "$.out.result")
{'x': 1, 'out': {'result': 'done'}}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeAlias

from mrbatch.asl.errors import (
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    DefinitionError,
    StatesError,
)
from mrbatch.asl.pathsyntax import (
    Descend,
    Field,
    Fields,
    Filter,
    Index,
    Indices,
    Length,
    Path,
    Segment,
    Slice,
    Wildcard,
    parse_path,
)

__all__ = [
    "Path",
    "apply_result_path",
    "is_reference_path",
    "parse_path",
    "select",
    "validate_path",
]

Json: TypeAlias = Any
"""A JSON value: dict, list, str, int, float, bool or None."""

_MAX_SHOWN: Final = 200


# --- evaluation ------------------------------------------------------------------------------

_MISSING: Final = object()


def _children(node: Json) -> list[Json]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _step(seg: Segment, node: Json, root: Json) -> Iterator[Json]:
    """Every node `seg` selects from `node` (nothing when it does not apply)."""
    if isinstance(seg, Field):
        if isinstance(node, dict) and seg.name in node:
            yield node[seg.name]
    elif isinstance(seg, Index):
        if isinstance(node, list) and -len(node) <= seg.index < len(node):
            yield node[seg.index]
    elif isinstance(seg, Wildcard):
        yield from _children(node)
    elif isinstance(seg, Indices):
        for i in seg.indices:
            yield from _step(Index(i), node, root)
    elif isinstance(seg, Slice):
        if isinstance(node, list):
            yield from node[seg.start : seg.end]
    elif isinstance(seg, Fields):
        if isinstance(node, dict):
            yield {k: node[k] for k in seg.names if k in node}
    elif isinstance(seg, Filter):
        for child in _children(node):
            if seg.expr.holds(child, root, _resolve_relative):
                yield child
    elif isinstance(seg, Descend):
        for each in _walk(node):
            yield from _step(seg.inner, each, root)


def _walk(node: Json) -> Iterator[Json]:
    yield node
    for child in _children(node):
        yield from _walk(child)


def _resolve_relative(segments: tuple[Segment, ...], node: Json, root: Json) -> tuple[bool, Json]:
    """(found, value) for a relative path inside a filter; indefinite paths give a list."""
    nodes = [node]
    for seg in segments:
        nodes = [n for each in nodes for n in _step(seg, each, root)]
        if not nodes:
            return False, None
    definite = all(isinstance(s, (Field, Index)) for s in segments)
    return True, (nodes[0] if definite else nodes)


def _length(value: Json, path: Path, error: str) -> int:
    if isinstance(value, (list, dict, str)):
        return len(value)
    raise StatesError(error, f"length() in path {path.text!r} applies to {_show(value)}")


def _show(value: Json) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _parse_at_runtime(path: str, error: str) -> Path:
    try:
        return parse_path(path)
    except DefinitionError as exc:
        raise StatesError(error, str(exc)) from None


def select(
    path: str,
    data: Json,
    *,
    context: Json = None,
    error: str = RUNTIME,
    variables: Mapping[str, Json] | None = None,
) -> Json:
    """The value `path` names in `data` (or in `context` for `$$` paths).

    A definite path returns the one node and raises `StatesError(error)` when it is missing; an
    indefinite path returns the list of matches (possibly empty). `error` is the name to fail
    with: States.Runtime for InputPath/OutputPath/ItemsPath, States.ParameterPathFailure for
    Parameters and ItemSelector.

    >>> select("$$.Execution.Id", {}, context={"Execution": {"Id": "e-1"}})
    'e-1'
    >>> try:
    ...     select("$.a", {"b": 1}, error="States.ParameterPathFailure")
    ... except StatesError as err:
    ...     print(err.error)
    States.ParameterPathFailure
    """
    parsed = _parse_at_runtime(path, error)
    if parsed.variable is not None:
        root = _variable(parsed.variable, variables)
    else:
        root = context if parsed.context else data
    segments = parsed.segments
    length = bool(segments) and isinstance(segments[-1], Length)
    if length:
        segments = segments[:-1]
    nodes = [root]
    for seg in segments:
        nodes = [n for node in nodes for n in _step(seg, node, root)]
    if parsed.definite:
        if not nodes:
            where = "context object" if parsed.context else "input"
            raise StatesError(
                error, f"the JSONPath {path!r} could not be found in the {where} {_show(root)}"
            )
        value = nodes[0]
    else:
        value = nodes
    return _length(value, parsed, error) if length else value


def _variable(name: str, variables: Mapping[str, Json] | None) -> Json:
    if variables is None or name not in variables:
        # a reference to a variable no state has assigned (yet, or in this scope)
        raise StatesError(RUNTIME, f"The variable '${name}' is not defined in this scope")
    return variables[name]


def is_reference_path(path: str) -> bool:
    """True if `path` is a valid reference path (fields and non-negative indices only).

    >>> is_reference_path("$.a['b c'][0]"), is_reference_path("$.a[*]"), is_reference_path("x")
    (True, False, False)
    """
    try:
        return parse_path(path).reference
    except DefinitionError:
        return False


def validate_path(
    path: object,
    *,
    state: str | None,
    field: str,
    reference: bool = False,
    allow_context: bool = True,
) -> Path:
    """Check a path found in a definition at load time; DefinitionError names state and field.

    >>> validate_path("$.a[*]", state="Save", field="ResultPath", reference=True)
    Traceback (most recent call last):
    ...
    mrbatch.asl.errors.DefinitionError: state 'Save': ResultPath: '$.a[*]' is not a reference ...
    """
    if not isinstance(path, str):
        raise DefinitionError(f"{field}: expected a path string, got {path!r}", state=state)
    try:
        parsed = parse_path(path)
    except DefinitionError as exc:
        raise DefinitionError(f"{field}: {exc.message}", state=state) from None
    if reference and not parsed.reference:
        raise DefinitionError(
            f"{field}: {path!r} is not a reference path "
            "(only fields and array indices are allowed)",
            state=state,
        )
    if parsed.context and not allow_context:
        raise DefinitionError(f"{field}: {path!r} may not use the context object", state=state)
    return parsed


# --- ResultPath ------------------------------------------------------------------------------


def apply_result_path(raw_input: Json, result: Json, result_path: str | None) -> Json:
    """Combine a state's raw input and its result as ResultPath says.

    `None` (JSON null) discards the result and keeps the input; `"$"` replaces the input;
    `"$.a.b"` copies the input with the result stored at a.b, creating missing objects on the
    way. Storing into something that is not an object (or an index outside an array) fails with
    States.ResultPathMatchFailure, as on AWS.

    >>> apply_result_path({"a": 1}, {"r": 2}, None), apply_result_path({"a": 1}, 5, "$")
    ({'a': 1}, 5)
    >>> try:
    ...     apply_result_path({"a": 1}, 5, "$.a.b")
    ... except StatesError as err:
    ...     print(err.error)
    States.ResultPathMatchFailure
    """
    if result_path is None:
        return raw_input
    parsed = _parse_at_runtime(result_path, RESULT_PATH_MATCH_FAILURE)
    if parsed.context or parsed.variable is not None or not parsed.reference:
        raise StatesError(
            RESULT_PATH_MATCH_FAILURE, f"ResultPath {result_path!r} is not a reference path"
        )
    try:
        return _set_in(raw_input, parsed.segments, result)
    except _NoPlace as exc:
        raise StatesError(
            RESULT_PATH_MATCH_FAILURE,
            f"unable to apply ResultPath {result_path!r} to the input {_show(raw_input)}: {exc}",
        ) from None


class _NoPlace(Exception):
    """Internal: ResultPath cannot put the result where it points."""


def _set_in(node: Json, segments: tuple[Segment, ...], value: Json, where: str = "$") -> Json:
    """A copy of `node` with `value` at `segments`; shares every untouched sub-tree."""
    if not segments:
        return value
    seg, rest = segments[0], segments[1:]
    if isinstance(seg, Field):
        if not isinstance(node, dict):
            raise _NoPlace(
                "the input is not an object" if where == "$" else f"{where!r} is not an object"
            )
        child = node.get(seg.name, _MISSING)
        if child is _MISSING:
            child = {} if rest else None
        copy = dict(node)
        copy[seg.name] = _set_in(child, rest, value, seg.name)
        return copy
    assert isinstance(seg, Index)
    if not isinstance(node, list) or not 0 <= seg.index < len(node):
        raise _NoPlace(f"{where!r} has no element [{seg.index}]")
    items = list(node)
    items[seg.index] = _set_in(items[seg.index], rest, value, f"{where}[{seg.index}]")
    return items
