"""Choice state rules (JSONPath mode): parsed into typed objects at load, evaluated per run.

A rule is a data-test (`Variable` + one operator), or `And`/`Or`/`Not` over nested rules.
Parsing checks everything a definition can get wrong, naming the state: an unknown or missing
operator, a value of the wrong type (`NumericEquals: "1"`), a bad or non-reference path, a
`Next` inside a nested rule, an invalid timestamp or StringMatches pattern.

Evaluation follows AWS Step Functions:
- A comparison whose variable has another type than the operator is false, never an error
  (`NumericEquals` on a string, `BooleanEquals` on 1); timestamps are RFC 3339 strings with an
  uppercase `T` and `Z` or a numeric offset, compared as instants with nanosecond precision.
- Strings compare like Java's `String.compareTo` (UTF-16 code units), as the docs specify.
- `IsPresent` is the only operator that tolerates a missing `Variable`; for every other one, and
  for a missing `...Path` operand, evaluation fails with States.Runtime ("Invalid path ...").
- `StringMatches` accepts `*` as "any run of characters"; `\\*` is a literal star and `\\\\` a
  literal backslash.

>>> state = parse_choice_state(
...     {"Choices": [{"Variable": "$.n", "NumericGreaterThan": 9, "Next": "Big"}],
...      "Default": "Small"}, "Size")
>>> state.next_state({"n": 10}), state.next_state({"n": 3})
('Big', 'Small')
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

from mrbatch.asl.errors import NO_CHOICE_MATCHED, RUNTIME, DefinitionError, StatesError
from mrbatch.asl.paths import select, validate_path

__all__ = [
    "And",
    "ChoiceRule",
    "ChoiceState",
    "Comparison",
    "Not",
    "Or",
    "Rule",
    "TypeTest",
    "parse_choice_state",
    "parse_rule",
    "parse_timestamp",
]

Json: TypeAlias = Any
Vars: TypeAlias = "Mapping[str, Any] | None"
"""The workflow variables visible to the rule (`$name` paths)."""

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_MISSING: Final = object()


def parse_timestamp(value: object) -> tuple[int, int] | None:
    """(seconds since the epoch, nanoseconds) for an RFC 3339 timestamp, else None.

    >>> parse_timestamp("2016-08-18T17:33:00Z"), parse_timestamp("2016-08-18 17:33:00Z")
    ((1471541580, 0), None)
    """
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    zone = match.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        moment -= sign * timedelta(hours=hours, minutes=minutes)
    nanos = int((match.group(7) or "").ljust(9, "0"))
    return int(moment.timestamp()), nanos


def _is_number(value: Json) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _java_key(text: str) -> bytes:
    """Sort key equal to Java's String.compareTo order (UTF-16 code units)."""
    return text.encode("utf-16-be", "surrogatepass")


def _order(op: str, a: Any, b: Any) -> bool:
    if op == "Equals":
        return bool(a == b)
    if op == "LessThan":
        return bool(a < b)
    if op == "GreaterThan":
        return bool(a > b)
    if op == "LessThanEquals":
        return bool(a <= b)
    return bool(a >= b)


def _matches_pattern(pattern: re.Pattern[str], value: Json) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def compile_string_pattern(pattern: str) -> re.Pattern[str]:
    r"""The regex for a StringMatches pattern; ValueError for a dangling escape.

    >>> bool(compile_string_pattern(r"log-*.txt").fullmatch("log-2024.txt"))
    True
    >>> bool(compile_string_pattern(r"a\*").fullmatch("ab")), bool(compile_string_pattern(r"a\*").fullmatch("a*"))
    (False, True)
    """  # noqa: E501
    parts, pos = [], 0
    while pos < len(pattern):
        c = pattern[pos]
        if c == "\\":
            nxt = pattern[pos + 1 : pos + 2]
            if nxt not in ("*", "\\"):
                raise ValueError(r"'\' must be followed by '*' or '\' in StringMatches")
            parts.append(re.escape(nxt))
            pos += 2
            continue
        parts.append(".*" if c == "*" else re.escape(c))
        pos += 1
    return re.compile("".join(parts), re.DOTALL)


# --- the rule types --------------------------------------------------------------------------


class Rule(ABC):
    """A Boolean test of the state's input (and the context object, for `$$` paths)."""

    @abstractmethod
    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        """Whether the rule holds; StatesError(States.Runtime) for a missing path."""


def _resolve(path: str, data: Json, context: Json, variables: Vars) -> Json:
    try:
        return select(path, data, context=context, variables=variables)
    except StatesError:
        raise StatesError(
            RUNTIME,
            f"Invalid path {path!r}: the choice state's condition path references "
            "an invalid value.",
        ) from None


@dataclass(frozen=True)
class Comparison(Rule):
    """`Variable` compared with a value (or with another path, for the ...Path operators)."""

    variable: str
    operator: str  # e.g. "NumericLessThan", without the "Path" suffix
    value: Json
    value_is_path: bool

    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        left = _resolve(self.variable, data, context, variables)
        right = _resolve(self.value, data, context, variables) if self.value_is_path else self.value
        return _compare(self.operator, left, right)


def _compare(operator: str, left: Json, right: Json) -> bool:
    if operator == "StringMatches":
        pattern = right if isinstance(right, re.Pattern) else None
        return pattern is not None and _matches_pattern(pattern, left)
    kind, op = _split_operator(operator)
    if kind == "String":
        ok = isinstance(left, str) and isinstance(right, str)
        return ok and _order(op, _java_key(left), _java_key(right))
    if kind == "Numeric":
        return _is_number(left) and _is_number(right) and _order(op, left, right)
    if kind == "Boolean":
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    a, b = parse_timestamp(left), parse_timestamp(right)
    return a is not None and b is not None and _order(op, a, b)


def _split_operator(operator: str) -> tuple[str, str]:
    for kind in ("String", "Numeric", "Boolean", "Timestamp"):
        if operator.startswith(kind):
            return kind, operator[len(kind) :]
    raise AssertionError(operator)


_TYPE_TESTS: Final[dict[str, Callable[[Json], bool]]] = {
    "IsNull": lambda v: v is None,
    "IsString": lambda v: isinstance(v, str),
    "IsNumeric": _is_number,
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}


@dataclass(frozen=True)
class TypeTest(Rule):
    """`IsPresent`, `IsNull`, `IsString`, ... with the expected answer (true or false)."""

    variable: str
    operator: str
    expected: bool

    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        if self.operator == "IsPresent":
            try:
                select(self.variable, data, context=context, variables=variables)
            except StatesError:
                return not self.expected
            return self.expected
        value = _resolve(self.variable, data, context, variables)
        return _TYPE_TESTS[self.operator](value) == self.expected


@dataclass(frozen=True)
class And(Rule):
    """True when every nested rule is (evaluated in order, stopping at the first false)."""

    rules: tuple[Rule, ...]

    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        return all(rule.matches(data, context, variables) for rule in self.rules)


@dataclass(frozen=True)
class Or(Rule):
    """True when any nested rule is (evaluated in order, stopping at the first true)."""

    rules: tuple[Rule, ...]

    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        return any(rule.matches(data, context, variables) for rule in self.rules)


@dataclass(frozen=True)
class Not(Rule):
    """True when the nested rule is false."""

    rule: Rule

    def matches(self, data: Json, context: Json = None, variables: Vars = None) -> bool:
        return not self.rule.matches(data, context, variables)


@dataclass(frozen=True)
class ChoiceRule:
    """A top-level rule and the state it leads to."""

    rule: Rule
    next: str
    assign: Json = None
    """The rule's Assign object (None: the rule assigns nothing)."""


@dataclass(frozen=True)
class ChoiceState:
    """The parsed `Choices` and `Default` of a Choice state."""

    name: str
    choices: tuple[ChoiceRule, ...]
    default: str | None

    def next_state(self, data: Json, context: Json = None, variables: Vars = None) -> str:
        """The first matching rule's Next, else Default, else States.NoChoiceMatched."""
        rule = self.choose(data, context, variables)
        return rule.next if rule is not None else str(self.default)

    def choose(self, data: Json, context: Json = None, variables: Vars = None) -> ChoiceRule | None:
        """The first matching rule, else None when there is a Default, else
        States.NoChoiceMatched."""
        for choice in self.choices:
            if choice.rule.matches(data, context, variables):
                return choice
        if self.default is not None:
            return None
        raise StatesError(
            NO_CHOICE_MATCHED, f"no choice rule matched and no Default in state {self.name!r}"
        )


# --- parsing ---------------------------------------------------------------------------------

_COMPARISON_KINDS: Final[dict[str, type | tuple[type, ...]]] = {
    "String": str,
    "Numeric": (int, float),
    "Boolean": bool,
    "Timestamp": str,
}
_ORDERINGS: Final = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
COMPARISON_OPERATORS: Final[frozenset[str]] = frozenset(
    {f"{kind}{op}" for kind in _COMPARISON_KINDS for op in _ORDERINGS if kind != "Boolean"}
    | {"BooleanEquals", "StringMatches"}
)
TYPE_OPERATORS: Final[frozenset[str]] = frozenset({"IsPresent", *_TYPE_TESTS})
ALL_OPERATORS: Final[frozenset[str]] = (
    COMPARISON_OPERATORS
    | {f"{op}Path" for op in COMPARISON_OPERATORS if op != "StringMatches"}
    | TYPE_OPERATORS
    | {"And", "Or", "Not"}
)


def parse_rule(rule: Mapping[str, Json], state_name: str, *, top_level: bool = True) -> Rule:
    """Parse one Choice Rule (a top-level one may carry `Next`, which is not part of the Rule).

    >>> parse_rule({"Variable": "$.x", "IsNull": True}, "S")
    TypeTest(variable='$.x', operator='IsNull', expected=True)
    """

    def fail(message: str) -> DefinitionError:
        return DefinitionError(f"Choices: {message} in rule {rule!r}", state=state_name)

    if not isinstance(rule, Mapping):
        raise DefinitionError(f"Choices: a rule must be an object, got {rule!r}", state=state_name)
    operators = [key for key in rule if key in ALL_OPERATORS]
    top = ("Next", "Assign") if top_level else ()
    allowed = {"Variable", "Comment", *operators, *top}
    unknown = sorted(set(rule) - allowed)
    if unknown:
        what = "'Next' inside a nested rule" if "Next" in unknown else f"unknown fields {unknown}"
        raise fail(what)
    if len(operators) != 1:
        raise fail(f"expected exactly one operator, found {len(operators) or 'none'}")
    operator = operators[0]
    if operator in ("And", "Or", "Not"):
        return _parse_boolean(operator, rule, state_name, fail)
    if "Variable" not in rule:
        raise fail("missing 'Variable'")
    variable = validate_path(rule["Variable"], state=state_name, field="Variable", reference=True)
    return _parse_test(operator, variable.text, rule[operator], state_name, fail)


def _parse_boolean(
    operator: str,
    rule: Mapping[str, Json],
    state_name: str,
    fail: Callable[[str], DefinitionError],
) -> Rule:
    if "Variable" in rule:
        raise fail(f"'Variable' is not allowed with {operator}")
    value = rule[operator]
    if operator == "Not":
        if not isinstance(value, Mapping):
            raise fail("'Not' takes one rule object")
        return Not(parse_rule(value, state_name, top_level=False))
    if not isinstance(value, list) or not value:
        raise fail(f"{operator!r} takes a non-empty array of rules")
    rules = tuple(parse_rule(r, state_name, top_level=False) for r in value)
    return And(rules) if operator == "And" else Or(rules)


def _parse_test(
    operator: str,
    variable: str,
    value: Json,
    state_name: str,
    fail: Callable[[str], DefinitionError],
) -> Rule:
    if operator in TYPE_OPERATORS:
        if not isinstance(value, bool):
            raise fail(f"{operator} takes true or false")
        return TypeTest(variable, operator, value)
    if operator.endswith("Path"):
        path = validate_path(value, state=state_name, field=operator, reference=True)
        return Comparison(variable, operator[: -len("Path")], path.text, True)
    if operator == "StringMatches":
        if not isinstance(value, str):
            raise fail("StringMatches takes a string pattern")
        try:
            return Comparison(variable, operator, compile_string_pattern(value), False)
        except ValueError as exc:
            raise fail(str(exc)) from None
    kind, _ = _split_operator(operator)
    expected = _COMPARISON_KINDS[kind]
    if not isinstance(value, expected) or (kind == "Numeric" and isinstance(value, bool)):
        raise fail(f"{operator} takes a {kind.lower()} value, got {value!r}")
    if kind == "Timestamp" and parse_timestamp(value) is None:
        raise fail(f"{value!r} is not an RFC 3339 timestamp (like 2016-08-18T17:33:00Z)")
    return Comparison(variable, operator, value, False)


def parse_choice_state(state: Mapping[str, Json], state_name: str) -> ChoiceState:
    """Parse a Choice state's `Choices` (non-empty, each with `Next`) and optional `Default`.

    Other fields of the state (Type, InputPath, OutputPath, Comment, ...) are the engine's.
    """
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        raise DefinitionError("'Choices' must be a non-empty array", state=state_name)
    parsed = []
    for rule in choices:
        rule_obj = parse_rule(rule, state_name)
        target = rule.get("Next")
        if not isinstance(target, str) or target == "":
            raise DefinitionError(
                f"Choices: a top-level rule needs 'Next': {rule!r}", state=state_name
            )
        parsed.append(ChoiceRule(rule_obj, target, rule.get("Assign")))
    default = state.get("Default")
    if default is not None and not isinstance(default, str):
        raise DefinitionError(f"'Default' must be a state name, got {default!r}", state=state_name)
    return ChoiceState(state_name, tuple(parsed), default)
