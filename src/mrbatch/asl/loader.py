"""Parse ASL JSON into `StateMachineDefinition` and reject what AWS Step Functions would reject.

Validation happens once, at load, so a running execution never meets a malformed definition:
unknown fields, a missing StartAt/Next, a Next naming no state, End together with Next,
unreachable states, misplaced States.ALL, bad paths, bad templates and bad Choice rules all
raise `DefinitionError` naming the state. `${Name}` placeholders are substituted first, as
SAM's DefinitionSubstitutions do, so the same file deploys unchanged to AWS.

>>> sm = load_definition({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
>>> sm.program.start_at
'A'
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from mrbatch.asl import choice, dataflow, variables
from mrbatch.asl.definition import (
    UNSET,
    Catcher,
    ChoiceState,
    FailState,
    JsonValue,
    MapState,
    ParallelState,
    PassState,
    Program,
    Retrier,
    State,
    StateMachineDefinition,
    SucceedState,
    TaskState,
    WaitState,
)
from mrbatch.asl.errors import ALL, DefinitionError
from mrbatch.asl.jsonatastates import language_of, parse_jsonata_state
from mrbatch.asl.mapconfig import parse_distributed
from mrbatch.asl.pathsyntax import parse_path

__all__ = ["load_definition", "load_definition_file", "substitute"]

_COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_HANDLING = {"Retry", "Catch", "ResultSelector", "ResultPath", "Parameters"}
_ALLOWED: dict[str, set[str]] = {
    "Pass": _COMMON | _FLOW | {"Result", "ResultPath", "Parameters"},
    "Task": _COMMON
    | _FLOW
    | _HANDLING
    | {
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
    },
    "Choice": _COMMON | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _COMMON | _FLOW | _HANDLING | {"Branches"},
    "Map": _COMMON
    | _FLOW
    | _HANDLING
    | {
        "Iterator",
        "ItemProcessor",
        "ItemsPath",
        "ItemSelector",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
        "Label",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
    },
}
for _kind in ("Pass", "Task", "Choice", "Wait", "Parallel", "Map"):
    _ALLOWED[_kind].add("Assign")  # AWS: every state but Succeed and Fail takes Assign
_TOP_LEVEL = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
for _allowed in _ALLOWED.values():
    _allowed.add("QueryLanguage")  # every state may set its own (AWS: it overrides the top)
_PROGRAM = {"StartAt", "States", "Comment", "ProcessorConfig"}
_LANGUAGE: ContextVar[str] = ContextVar("_LANGUAGE", default="JSONPath")
"""The top-level QueryLanguage of the definition being loaded, which states inherit."""
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def substitute(value: JsonValue, substitutions: Mapping[str, str]) -> JsonValue:
    """Replace `${Name}` in every string of `value` (keys too) by `substitutions[Name]`.

    A placeholder with no substitution is left as it is, as SAM does, so a definition can
    keep `${...}` text that is not meant for substitution.

    >>> substitute({"Resource": "${Fn}"}, {"Fn": "arn:aws:lambda:us-east-1:1:function:f"})
    {'Resource': 'arn:aws:lambda:us-east-1:1:function:f'}
    """
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: substitutions.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    if isinstance(value, dict):
        return {
            substitute(k, substitutions): substitute(v, substitutions) for k, v in value.items()
        }
    return value


def load_definition_file(
    path: str | Path, substitutions: Mapping[str, str] | None = None
) -> StateMachineDefinition:
    """Read and load a definition file; unreadable or non-JSON files raise DefinitionError."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{path} is not JSON: {exc}") from exc
    return load_definition(raw, substitutions)


def load_definition(
    raw: JsonValue, substitutions: Mapping[str, str] | None = None
) -> StateMachineDefinition:
    """Substitute placeholders, parse and validate a definition given as parsed JSON."""
    if substitutions:
        raw = substitute(raw, substitutions)
    if not isinstance(raw, dict):
        raise DefinitionError("a state machine definition must be a JSON object")
    _no_unknown(raw, _TOP_LEVEL, None, "the state machine")
    if "Version" in raw and raw["Version"] != "1.0":
        raise DefinitionError(f"unsupported Version {raw['Version']!r} (only '1.0')")
    timeout = _opt_int(raw, "TimeoutSeconds", None, minimum=1)
    token = _LANGUAGE.set(language_of(raw, "JSONPath", None))
    try:
        program = _parse_program(raw, "the state machine", set())
    finally:
        _LANGUAGE.reset(token)
    variables.check_scopes(program)
    return StateMachineDefinition(program, timeout, raw.get("Comment"), raw)


def _parse_program(raw: Mapping[str, Any], where: str, seen: set[str]) -> Program:
    start = raw.get("StartAt")
    states_raw = raw.get("States")
    if not isinstance(start, str):
        raise DefinitionError(f"{where}: StartAt is missing or not a string")
    if not isinstance(states_raw, dict) or not states_raw:
        raise DefinitionError(f"{where}: States is missing or empty")
    states: dict[str, State] = {}
    for name, body in states_raw.items():
        if name in seen:
            raise DefinitionError("state names must be unique in the whole definition", state=name)
        seen.add(name)
        if len(name) > 80:
            raise DefinitionError("a state name is at most 80 characters", state=name)
        if not isinstance(body, dict):
            raise DefinitionError("a state must be a JSON object", state=name)
        states[name] = _parse_state(name, body, seen)
    if start not in states:
        raise DefinitionError(f"{where}: StartAt {start!r} names no state")
    _check_transitions(states)
    _check_reachable(start, states, where)
    return Program(start, states)


def _parse_state(name: str, raw: Mapping[str, Any], seen: set[str]) -> State:
    if language_of(raw, _LANGUAGE.get(), name) == "JSONata":
        return parse_jsonata_state(name, raw, lambda n, r: _parse_jsonpath(n, r, seen))
    return _parse_jsonpath(name, raw, seen)


def _parse_jsonpath(name: str, raw: Mapping[str, Any], seen: set[str]) -> State:
    kind = raw.get("Type")
    if kind not in _ALLOWED:
        raise DefinitionError(f"unknown or missing Type {kind!r}", state=name)
    _no_unknown(raw, _ALLOWED[kind], name, f"a {kind} state")
    common = _common(name, kind, raw)
    parser = _PARSERS[kind]
    return parser(name, raw, common, seen)


def _common(name: str, kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    has_next, end = "Next" in raw, raw.get("End", False)
    if kind in ("Pass", "Task", "Wait", "Parallel", "Map"):
        if has_next and end:
            raise DefinitionError("End and Next cannot both be set", state=name)
        if not has_next and end is not True:
            raise DefinitionError('needs either Next or "End": true', state=name)
        if has_next and not isinstance(raw["Next"], str):
            raise DefinitionError("Next must be a state name", state=name)
    common: dict[str, Any] = {
        "name": name,
        "type": kind,
        "comment": raw.get("Comment"),
        "next": raw.get("Next"),
        "end": end is True,
    }
    for key, attr in (("InputPath", "input_path"), ("OutputPath", "output_path")):
        if key in raw:
            common[attr] = _path(raw[key], name, key, nullable=True)
    if "Assign" in raw:
        common["assign"] = variables.check_assign(raw["Assign"], name, "Assign")
    return common


def _parse_pass(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    return PassState(
        **common,
        result=raw.get("Result", UNSET),
        result_path=_result_path(raw, name),
        parameters=_template(raw, "Parameters", name),
    )


def _parse_task(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    resource = raw.get("Resource")
    if not isinstance(resource, str) or not resource:
        raise DefinitionError("Resource is missing or not a string", state=name)
    for plain, path in (
        ("TimeoutSeconds", "TimeoutSecondsPath"),
        ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ):
        if plain in raw and path in raw:
            raise DefinitionError(f"{plain} and {path} cannot both be set", state=name)
    timeout = _opt_int(raw, "TimeoutSeconds", name, minimum=1)
    heartbeat = _opt_int(raw, "HeartbeatSeconds", name, minimum=1)
    if timeout is not None and heartbeat is not None and heartbeat >= timeout:
        raise DefinitionError("HeartbeatSeconds must be smaller than TimeoutSeconds", state=name)
    return TaskState(
        **common,
        resource=resource,
        parameters=_template(raw, "Parameters", name),
        result_selector=_template(raw, "ResultSelector", name),
        result_path=_result_path(raw, name),
        retry=_retriers(raw, name),
        catch=_catchers(raw, name),
        timeout_seconds=timeout,
        timeout_seconds_path=_opt_path(raw, "TimeoutSecondsPath", name),
        heartbeat_seconds=heartbeat,
        heartbeat_seconds_path=_opt_path(raw, "HeartbeatSecondsPath", name),
    )


def _parse_choice(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    rules = choice.parse_choice_state(raw, name)
    for i, rule in enumerate(rules.choices):
        if rule.assign is not None:
            variables.check_assign(rule.assign, name, f"Choices[{i}].Assign")
    return ChoiceState(**common, choices=tuple(raw["Choices"]), default=rules.default, rules=rules)


def _parse_wait(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in raw]
    if len(given) != 1:
        raise DefinitionError(
            "needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath", state=name
        )
    timestamp = raw.get("Timestamp")
    if timestamp is not None and (
        not isinstance(timestamp, str) or dataflow.parse_timestamp(timestamp) is None
    ):
        raise DefinitionError(f"Timestamp {timestamp!r} is not an RFC3339 timestamp", state=name)
    return WaitState(
        **common,
        seconds=_opt_int(raw, "Seconds", name, minimum=0),
        timestamp=timestamp,
        seconds_path=_opt_path(raw, "SecondsPath", name),
        timestamp_path=_opt_path(raw, "TimestampPath", name),
    )


def _parse_succeed(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    return SucceedState(**common)


def _parse_fail(name: str, raw: Mapping[str, Any], common: dict[str, Any], _: set[str]) -> State:
    for plain, path in (("Error", "ErrorPath"), ("Cause", "CausePath")):
        if plain in raw and path in raw:
            raise DefinitionError(f"{plain} and {path} cannot both be set", state=name)
        if plain in raw and not isinstance(raw[plain], str):
            raise DefinitionError(f"{plain} must be a string", state=name)
    return FailState(
        **{k: v for k, v in common.items() if k not in ("input_path", "output_path")},
        error=raw.get("Error"),
        cause=raw.get("Cause"),
        error_path=_opt_path(raw, "ErrorPath", name, intrinsic=True),
        cause_path=_opt_path(raw, "CausePath", name, intrinsic=True),
    )


def _parse_parallel(
    name: str, raw: Mapping[str, Any], common: dict[str, Any], seen: set[str]
) -> State:
    branches = raw.get("Branches")
    if not isinstance(branches, list) or not branches:
        raise DefinitionError("Branches must be a non-empty array", state=name)
    programs = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, dict):
            raise DefinitionError(f"Branches[{i}] must be an object", state=name)
        _no_unknown(branch, _PROGRAM, name, f"Branches[{i}]")
        programs.append(_parse_program(branch, f"state {name!r} Branches[{i}]", seen))
    return ParallelState(
        **common,
        branches=tuple(programs),
        parameters=_template(raw, "Parameters", name),
        result_selector=_template(raw, "ResultSelector", name),
        result_path=_result_path(raw, name),
        retry=_retriers(raw, name),
        catch=_catchers(raw, name),
    )


def _parse_map(name: str, raw: Mapping[str, Any], common: dict[str, Any], seen: set[str]) -> State:
    if ("Iterator" in raw) == ("ItemProcessor" in raw):
        raise DefinitionError("needs exactly one of ItemProcessor or Iterator", state=name)
    if "ItemSelector" in raw and "Parameters" in raw:
        raise DefinitionError("ItemSelector and Parameters cannot both be set", state=name)
    body = raw.get("ItemProcessor", raw.get("Iterator"))
    if not isinstance(body, dict):
        raise DefinitionError("ItemProcessor must be an object", state=name)
    _no_unknown(body, _PROGRAM, name, "ItemProcessor")
    distributed = parse_distributed(name, raw, body)
    if distributed is not None and _LANGUAGE.get() == "JSONata":
        # the child executions run the ItemProcessor as a state machine of its own, whose
        # states inherit the top-level language as the processor's states do here
        processor = {"QueryLanguage": "JSONata", **distributed.processor}
        distributed = dataclasses.replace(distributed, processor=processor)
    iterator = _parse_program(body, f"state {name!r} ItemProcessor", seen)
    selector_key = "ItemSelector" if "ItemSelector" in raw else "Parameters"
    percentage = raw.get("ToleratedFailurePercentage")
    if percentage is not None and (
        not isinstance(percentage, int | float) or not 0 <= percentage <= 100
    ):
        raise DefinitionError("ToleratedFailurePercentage must be 0..100", state=name)
    return MapState(
        **common,
        iterator=iterator,
        items_path=_opt_path(raw, "ItemsPath", name) or "$",
        item_selector=_template(raw, selector_key, name),
        max_concurrency=_opt_int(raw, "MaxConcurrency", name, minimum=0) or 0,
        max_concurrency_path=_opt_path(raw, "MaxConcurrencyPath", name),
        tolerated_failure_count=_opt_int(raw, "ToleratedFailureCount", name, minimum=0),
        tolerated_failure_percentage=percentage,
        tolerated_failure_count_path=_opt_path(raw, "ToleratedFailureCountPath", name),
        tolerated_failure_percentage_path=_opt_path(raw, "ToleratedFailurePercentagePath", name),
        result_selector=_template(raw, "ResultSelector", name),
        result_path=_result_path(raw, name),
        retry=_retriers(raw, name),
        catch=_catchers(raw, name),
        distributed=distributed,
    )


_PARSERS: dict[str, Callable[[str, Mapping[str, Any], dict[str, Any], set[str]], State]] = {
    "Pass": _parse_pass,
    "Task": _parse_task,
    "Choice": _parse_choice,
    "Wait": _parse_wait,
    "Succeed": _parse_succeed,
    "Fail": _parse_fail,
    "Parallel": _parse_parallel,
    "Map": _parse_map,
}


# --- error handling fields ---------------------------------------------------------------


def _error_equals(raw: Mapping[str, Any], name: str, what: str, last: bool) -> tuple[str, ...]:
    errors = raw.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise DefinitionError(
            f"{what}: ErrorEquals must be a non-empty array of strings", state=name
        )
    if ALL in errors and (len(errors) != 1 or not last):
        raise DefinitionError(
            f"{what}: States.ALL must appear alone and in the last rule", state=name
        )
    return tuple(errors)


def _retriers(raw: Mapping[str, Any], name: str) -> tuple[Retrier, ...]:
    rules = raw.get("Retry", [])
    if not isinstance(rules, list):
        raise DefinitionError("Retry must be an array", state=name)
    out = []
    allowed = {
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    }
    for i, rule in enumerate(rules):
        what = f"Retry[{i}]"
        if not isinstance(rule, dict):
            raise DefinitionError(f"{what} must be an object", state=name)
        _no_unknown(rule, allowed, name, what)
        errors = _error_equals(rule, name, what, last=i == len(rules) - 1)
        backoff = rule.get("BackoffRate", 2.0)
        if not isinstance(backoff, int | float) or isinstance(backoff, bool) or backoff < 1.0:
            raise DefinitionError(f"{what}: BackoffRate must be a number >= 1.0", state=name)
        jitter = rule.get("JitterStrategy", "NONE")
        if jitter not in ("FULL", "NONE"):
            raise DefinitionError(f"{what}: JitterStrategy must be FULL or NONE", state=name)
        out.append(
            Retrier(
                error_equals=errors,
                interval_seconds=_opt_int(rule, "IntervalSeconds", name, minimum=1) or 1,
                max_attempts=_opt_int(rule, "MaxAttempts", name, minimum=0, default=3) or 0,
                backoff_rate=float(backoff),
                max_delay_seconds=_opt_int(rule, "MaxDelaySeconds", name, minimum=1),
                jitter_full=jitter == "FULL",
            )
        )
    return tuple(out)


def _catchers(raw: Mapping[str, Any], name: str) -> tuple[Catcher, ...]:
    rules = raw.get("Catch", [])
    if not isinstance(rules, list):
        raise DefinitionError("Catch must be an array", state=name)
    out = []
    for i, rule in enumerate(rules):
        what = f"Catch[{i}]"
        if not isinstance(rule, dict):
            raise DefinitionError(f"{what} must be an object", state=name)
        _no_unknown(rule, {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign"}, name, what)
        errors = _error_equals(rule, name, what, last=i == len(rules) - 1)
        if not isinstance(rule.get("Next"), str):
            raise DefinitionError(f"{what}: Next is missing", state=name)
        result_path = _path(
            rule.get("ResultPath", "$"), name, f"{what}.ResultPath", nullable=True, reference=True
        )
        assign = rule.get("Assign")
        if assign is not None:
            variables.check_assign(assign, name, f"{what}.Assign")
        out.append(Catcher(errors, rule["Next"], result_path, assign))
    return tuple(out)


# --- small field helpers -----------------------------------------------------------------


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], state: str | None, what: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise DefinitionError(f"{what} does not allow field(s) {', '.join(unknown)}", state=state)


def _opt_int(
    raw: Mapping[str, Any], key: str, state: str | None, *, minimum: int, default: int | None = None
) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise DefinitionError(f"{key} must be an integer >= {minimum}", state=state)
    return value


def _path(
    value: Any,
    state: str,
    field: str,
    *,
    nullable: bool = False,
    reference: bool = False,
    intrinsic: bool = False,
) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise DefinitionError(f"{field} must be a path string", state=state)
    dataflow.check_path(value, state, field, reference=reference, intrinsic=intrinsic)
    return value


def _opt_path(
    raw: Mapping[str, Any], key: str, state: str, *, intrinsic: bool = False
) -> str | None:
    if key not in raw:
        return None
    return _path(
        raw[key],
        state,
        key,
        reference=key.endswith("sPath") or key == "ItemsPath",
        intrinsic=intrinsic,
    )


def _result_path(raw: Mapping[str, Any], state: str) -> Any:
    if "ResultPath" not in raw:
        return "$"
    path = _path(raw["ResultPath"], state, "ResultPath", nullable=True, reference=True)
    if path is not None and parse_path(path).variable is not None:
        raise DefinitionError(
            f"ResultPath {path!r} cannot write a variable (use Assign)", state=state
        )
    return path


def _template(raw: Mapping[str, Any], key: str, state: str) -> Any:
    if key not in raw:
        return UNSET
    dataflow.check_template(raw[key], state, key)
    return raw[key]


# --- graph checks ------------------------------------------------------------------------


def _targets(state: State) -> list[tuple[str, str]]:
    """(field, target) pairs of every transition out of `state`."""
    out = [("Next", state.next)] if state.next else []
    if isinstance(state, ChoiceState):
        out += [(f"Choices[{i}].Next", r.get("Next")) for i, r in enumerate(state.choices)]
        if state.default:
            out.append(("Default", state.default))
    if isinstance(state, TaskState | ParallelState | MapState):
        out += [(f"Catch[{i}].Next", c.next) for i, c in enumerate(state.catch)]
    return out


def _check_transitions(states: Mapping[str, State]) -> None:
    for state in states.values():
        for field, target in _targets(state):
            if not isinstance(target, str) or target not in states:
                raise DefinitionError(
                    f"{field} {target!r} names no state in scope", state=state.name
                )


def _check_reachable(start: str, states: Mapping[str, State], where: str) -> None:
    seen, todo = {start}, [start]
    while todo:
        for _, target in _targets(states[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for name in states:
        if name not in seen:
            raise DefinitionError(f"unreachable from StartAt in {where}", state=name)
