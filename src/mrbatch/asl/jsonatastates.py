"""Load-time rules of JSONata states (`QueryLanguage: JSONata`), beside the JSONPath loader.

AWS: "After you select JSONata, your workflow fields will be reduced from five JSONPath
fields (InputPath, Parameters, ResultSelector, ResultPath, and OutputPath) to only two
fields: Arguments and Output." A JSONata state that carries a JSONPath-only field is refused
at load, as AWS refuses it when the state machine is created. The rest of the state is
parsed by the JSONPath loader (the fields both modes share mean the same), then the JSONata
fields are put on the dataclass, each expression compiled once here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from mrbatch.asl import jsonatamap, query, reserved, variables
from mrbatch.asl.definition import UNSET, Catcher, ChoiceState, ConditionRule, MapState, State
from mrbatch.asl.errors import DefinitionError

__all__ = ["JSONPATH_ONLY", "language_of", "parse_jsonata_state"]

JSONPATH_ONLY: Final = frozenset(
    {
        "InputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "OutputPath",
        "ItemsPath",
        "Iterator",
        "Result",
        "SecondsPath",
        "TimestampPath",
        "ErrorPath",
        "CausePath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    }
)
"""Fields a JSONata state may not have (JSONPath's five, and the `...Path` variants)."""

_NUMBERS: Final = {
    "Task": ("TimeoutSeconds", "HeartbeatSeconds"),
    "Map": ("MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"),
}
"""The numeric fields of a state that may be `{% %}` expressions (see `mrbatch.asl.numbers`;
Wait's Seconds and Timestamp have fields of their own)."""

_JSONATA_FIELDS: Final = {"QueryLanguage", "Arguments", "Output", "Items"}
_ARGUMENTS: Final = frozenset({"Task", "Parallel"})
_ITEMS: Final = frozenset({"Map"})
_NO_OUTPUT: Final = frozenset({"Fail"})

ParseJsonPath = Callable[[str, Mapping[str, Any]], State]


def language_of(raw: Mapping[str, Any], inherited: str, where: str | None) -> str:
    """A state's (or the machine's) query language: its own `QueryLanguage` or the parent's."""
    language = raw.get("QueryLanguage", inherited)
    if language not in ("JSONPath", "JSONata"):
        raise DefinitionError(
            f"QueryLanguage must be JSONPath or JSONata, not {language!r}", state=where
        )
    return str(language)


def parse_jsonata_state(name: str, raw: Mapping[str, Any], parse: ParseJsonPath) -> State:
    """Validate a JSONata state's fields and parse it (`parse`: the JSONPath loader's)."""
    kind = raw.get("Type")
    for field in sorted(set(raw) & JSONPATH_ONLY):
        raise DefinitionError(
            f"{field} is a JSONPath field; a JSONata state uses Arguments and Output instead",
            state=name,
        )
    _only_where(raw, "Arguments", _ARGUMENTS, kind, name)
    _only_where(raw, "Items", _ITEMS, kind, name)
    if kind in _NO_OUTPUT and "Output" in raw:
        raise DefinitionError("a Fail state has no Output", state=name)
    reserved.check_reserved(raw, name)
    shared = {k: v for k, v in raw.items() if k not in _JSONATA_FIELDS}
    expressions = {
        k: query.check_value(shared.pop(k), name, k)
        for k in _NUMBERS.get(str(kind), ())
        if query.is_expression(shared.get(k))
    }
    blocks: dict[str, Any] = {}
    if kind == "Map":
        shared, blocks = jsonatamap.split_blocks(shared, name)
    if isinstance(raw.get("Catch"), list):
        shared["Catch"] = [
            {k: v for k, v in c.items() if k != "Output"} if isinstance(c, dict) else c
            for c in raw["Catch"]
        ]
    if kind == "Choice":
        shared["Choices"] = [_jsonpath_stub(rule) for rule in _list(raw, "Choices", name)]
    if kind == "Wait":
        for key in ("Seconds", "Timestamp"):
            if query.is_expression(shared.get(key)):
                shared[key] = 0 if key == "Seconds" else "1970-01-01T00:00:00Z"
    state = parse(name, shared)
    fields = _jsonata_fields(name, raw, state)
    fields["expressions"] = expressions
    if isinstance(state, MapState) and state.distributed is not None and blocks:
        fields["distributed"] = dataclasses.replace(
            state.distributed,
            item_reader=blocks.get("ItemReader"),
            item_batcher=blocks.get("ItemBatcher"),
            result_writer=blocks.get("ResultWriter"),
        )
    return dataclasses.replace(state, **fields)


def _jsonata_fields(name: str, raw: Mapping[str, Any], state: State) -> dict[str, Any]:
    fields: dict[str, Any] = {"jsonata": True}
    if "Output" in raw:
        fields["output"] = query.check_value(raw["Output"], name, "Output")
    if "Arguments" in raw:
        fields["parameters"] = query.check_value(raw["Arguments"], name, "Arguments")
    if "Items" in raw:
        items = raw["Items"]
        if not query.is_expression(items) and not isinstance(items, list):
            raise DefinitionError("Items must be an array or a JSONata expression", state=name)
        fields["items"] = query.check_value(items, name, "Items")
    if "ItemSelector" in raw:
        query.check_value(raw["ItemSelector"], name, "ItemSelector")
    if "Assign" in raw:
        query.check_value(raw["Assign"], name, "Assign")
    for key in ("Error", "Cause"):
        if key in raw:
            query.check_value(raw[key], name, key)
    if state.type == "Wait":
        for key, attr in (("Seconds", "seconds_expr"), ("Timestamp", "timestamp_expr")):
            if query.is_expression(raw.get(key)):
                fields[attr] = query.check_value(raw[key], name, key)
    if isinstance(state, ChoiceState):
        fields["conditions"] = tuple(
            _condition(rule, name, i) for i, rule in enumerate(_list(raw, "Choices", name))
        )
    catch = getattr(state, "catch", ())
    if catch:
        fields["catch"] = tuple(_catcher(c, raw["Catch"][i], name) for i, c in enumerate(catch))
    return fields


def _condition(rule: Any, name: str, i: int) -> ConditionRule:
    what = f"Choices[{i}]"
    if not isinstance(rule, dict):
        raise DefinitionError(f"{what} must be an object", state=name)
    unknown = sorted(set(rule) - {"Condition", "Next", "Assign", "Output", "Comment"})
    if unknown:
        raise DefinitionError(
            f"{what} does not allow field(s) {', '.join(unknown)} in a JSONata state", state=name
        )
    condition = rule.get("Condition")
    if not (query.is_expression(condition) or isinstance(condition, bool)):
        raise DefinitionError(
            f"{what}.Condition must be a JSONata expression or a boolean", state=name
        )
    if "Assign" in rule:
        variables.check_assign(rule["Assign"], name, f"{what}.Assign")
        query.check_value(rule["Assign"], name, f"{what}.Assign")
    return ConditionRule(
        condition=query.check_value(condition, name, f"{what}.Condition"),
        next=rule["Next"],
        assign=rule.get("Assign"),
        output=query.check_value(rule["Output"], name, f"{what}.Output")
        if "Output" in rule
        else UNSET,
    )


def _catcher(catcher: Catcher, raw: Mapping[str, Any], name: str) -> Catcher:
    if "Output" not in raw:
        return catcher
    return dataclasses.replace(catcher, output=query.check_value(raw["Output"], name, "Output"))


def _jsonpath_stub(rule: Any) -> Any:
    """A Choice rule the JSONPath parser accepts (its transitions are what it checks)."""
    if not isinstance(rule, dict):
        return rule
    return {"Variable": "$", "IsPresent": True, "Next": rule.get("Next")}


def _only_where(
    raw: Mapping[str, Any], field: str, kinds: frozenset[str], kind: Any, name: str
) -> None:
    if field in raw and kind not in kinds:
        raise DefinitionError(f"a {kind} state does not allow field {field}", state=name)


def _list(raw: Mapping[str, Any], key: str, name: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise DefinitionError(f"'{key}' must be a non-empty array", state=name)
    return value
