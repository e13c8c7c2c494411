"""Conformance tests for Choice rules: every operator true and false, type mismatches,
missing paths, boolean combinators, and the load-time checks, from the AWS Choice state docs."""

from __future__ import annotations

import doctest
from types import ModuleType
from typing import Any

import pytest

from mrbatch.asl import choice as choice_module
from mrbatch.asl.choice import (
    And,
    Comparison,
    Not,
    Or,
    TypeTest,
    parse_choice_state,
    parse_rule,
    parse_timestamp,
)
from mrbatch.asl.errors import NO_CHOICE_MATCHED, RUNTIME, DefinitionError, StatesError

DATA: dict[str, Any] = {
    "s": "abc",
    "s_same": "abc",
    "s_more": "abd",
    "n": 5,
    "n_float": 5.0,
    "n_more": 7.5,
    "b": True,
    "b_false": False,
    "t": "2016-08-18T17:33:00Z",
    "t_same": "2016-08-18T19:33:00+02:00",
    "t_later": "2016-08-18T17:33:00.000000001Z",
    "nul": None,
    "arr": [1],
    "obj": {"k": "v"},
    "file": "log-2024.txt",
    "star": "a*b",
    "slash": "a\\b",
    "emoji": "\U0001f600",
    "high": "\uffff",
    "n_str": "5",
    "t_bad": "2016-08-18 17:33:00Z",
}


def _rule(operator: str, variable: str, value: Any) -> dict[str, Any]:
    return {"Variable": variable, operator: value, "Next": "X"}


COMPARISONS: list[tuple[str, str, Any, bool]] = [
    # (operator, variable, value, expected)
    ("StringEquals", "$.s", "abc", True),
    ("StringEquals", "$.s", "abd", False),
    ("StringLessThan", "$.s", "abd", True),
    ("StringLessThan", "$.s", "abc", False),
    ("StringGreaterThan", "$.s", "abb", True),
    ("StringGreaterThan", "$.s", "abc", False),
    ("StringLessThanEquals", "$.s", "abc", True),
    ("StringLessThanEquals", "$.s", "abb", False),
    ("StringGreaterThanEquals", "$.s", "abc", True),
    ("StringGreaterThanEquals", "$.s", "abd", False),
    ("StringLessThan", "$.emoji", "\uffff", True),  # Java compareTo: UTF-16 code units
    ("StringGreaterThan", "$.high", "\U0001f600", True),
    ("NumericEquals", "$.n", 5, True),
    ("NumericEquals", "$.n", 5.0, True),
    ("NumericEquals", "$.n", 6, False),
    ("NumericLessThan", "$.n", 5.5, True),
    ("NumericLessThan", "$.n", 5, False),
    ("NumericGreaterThan", "$.n", 4, True),
    ("NumericGreaterThan", "$.n", 5, False),
    ("NumericLessThanEquals", "$.n", 5, True),
    ("NumericLessThanEquals", "$.n", 4.99, False),
    ("NumericGreaterThanEquals", "$.n", 5, True),
    ("NumericGreaterThanEquals", "$.n", 5.01, False),
    ("BooleanEquals", "$.b", True, True),
    ("BooleanEquals", "$.b", False, False),
    ("BooleanEquals", "$.b_false", False, True),
    ("TimestampEquals", "$.t", "2016-08-18T17:33:00Z", True),
    ("TimestampEquals", "$.t", "2016-08-18T19:33:00+02:00", True),
    ("TimestampEquals", "$.t", "2016-08-18T17:33:00.000Z", True),
    ("TimestampEquals", "$.t", "2016-08-18T17:33:01Z", False),
    ("TimestampLessThan", "$.t", "2016-08-18T17:33:00.000000001Z", True),
    ("TimestampLessThan", "$.t", "2016-08-18T17:33:00Z", False),
    ("TimestampGreaterThan", "$.t", "2016-08-18T12:33:00-04:59", True),
    ("TimestampGreaterThan", "$.t", "2016-08-18T12:33:00-05:00", False),
    ("TimestampLessThanEquals", "$.t", "2016-08-18T17:33:00Z", True),
    ("TimestampLessThanEquals", "$.t", "2016-08-17T17:33:00Z", False),
    ("TimestampGreaterThanEquals", "$.t", "2016-08-18T17:33:00Z", True),
    ("TimestampGreaterThanEquals", "$.t", "2017-01-01T00:00:00Z", False),
    ("StringMatches", "$.file", "log-*.txt", True),
    ("StringMatches", "$.file", "log-*.csv", False),
    ("StringMatches", "$.file", "*", True),
    ("StringMatches", "$.file", "*2024*", True),
    ("StringMatches", "$.file", "log-2024.txt", True),
    ("StringMatches", "$.file", "log-2024.tx", False),
    ("StringMatches", "$.file", "log.2024.txt", False),
    ("StringMatches", "$.star", "a\\*b", True),
    ("StringMatches", "$.file", "log\\*", False),
    ("StringMatches", "$.slash", "a\\\\b", True),
    ("StringMatches", "$.slash", "a\\\\*", True),
    # type mismatches are false, never errors
    ("NumericEquals", "$.n_str", 5, False),
    ("NumericEquals", "$.b", 1, False),
    ("NumericGreaterThan", "$.s", 0, False),
    ("StringEquals", "$.n", "5", False),
    ("StringLessThan", "$.nul", "a", False),
    ("BooleanEquals", "$.n", True, False),
    ("BooleanEquals", "$.s", True, False),
    ("TimestampEquals", "$.t_bad", "2016-08-18T17:33:00Z", False),
    ("TimestampEquals", "$.n", "2016-08-18T17:33:00Z", False),
    ("StringMatches", "$.n", "*", False),
    ("StringEquals", "$.obj", "x", False),
    ("NumericEquals", "$.arr", 1, False),
    ("StringEquals", "$.t", "2016-08-18T17:33:00Z", True),  # timestamps are strings too
]


@pytest.mark.parametrize(("operator", "variable", "value", "expected"), COMPARISONS)
def test_comparison_operator(operator: str, variable: str, value: Any, expected: bool) -> None:
    assert parse_rule(_rule(operator, variable, value), "S").matches(DATA) is expected


PATH_COMPARISONS: list[tuple[str, str, str, bool]] = [
    ("StringEqualsPath", "$.s", "$.s_same", True),
    ("StringEqualsPath", "$.s", "$.s_more", False),
    ("StringLessThanPath", "$.s", "$.s_more", True),
    ("StringLessThanPath", "$.s_more", "$.s", False),
    ("StringGreaterThanPath", "$.s_more", "$.s", True),
    ("StringGreaterThanPath", "$.s", "$.s_same", False),
    ("StringLessThanEqualsPath", "$.s", "$.s_same", True),
    ("StringLessThanEqualsPath", "$.s_more", "$.s", False),
    ("StringGreaterThanEqualsPath", "$.s", "$.s_same", True),
    ("StringGreaterThanEqualsPath", "$.s", "$.s_more", False),
    ("NumericEqualsPath", "$.n", "$.n_float", True),
    ("NumericEqualsPath", "$.n", "$.n_more", False),
    ("NumericLessThanPath", "$.n", "$.n_more", True),
    ("NumericLessThanPath", "$.n", "$.n_float", False),
    ("NumericGreaterThanPath", "$.n_more", "$.n", True),
    ("NumericGreaterThanPath", "$.n", "$.n_more", False),
    ("NumericLessThanEqualsPath", "$.n", "$.n_float", True),
    ("NumericLessThanEqualsPath", "$.n_more", "$.n", False),
    ("NumericGreaterThanEqualsPath", "$.n", "$.n_float", True),
    ("NumericGreaterThanEqualsPath", "$.n", "$.n_more", False),
    ("BooleanEqualsPath", "$.b", "$.b", True),
    ("BooleanEqualsPath", "$.b", "$.b_false", False),
    ("TimestampEqualsPath", "$.t", "$.t_same", True),
    ("TimestampEqualsPath", "$.t", "$.t_later", False),
    ("TimestampLessThanPath", "$.t", "$.t_later", True),
    ("TimestampLessThanPath", "$.t", "$.t_same", False),
    ("TimestampGreaterThanPath", "$.t_later", "$.t", True),
    ("TimestampGreaterThanPath", "$.t", "$.t_same", False),
    ("TimestampLessThanEqualsPath", "$.t", "$.t_same", True),
    ("TimestampLessThanEqualsPath", "$.t_later", "$.t", False),
    ("TimestampGreaterThanEqualsPath", "$.t", "$.t_same", True),
    ("TimestampGreaterThanEqualsPath", "$.t", "$.t_later", False),
    ("NumericEqualsPath", "$.n", "$.n_str", False),
    ("StringEqualsPath", "$.s", "$.n", False),
    ("TimestampEqualsPath", "$.t", "$.t_bad", False),
    ("BooleanEqualsPath", "$.b", "$.n", False),
]


@pytest.mark.parametrize(("operator", "variable", "other", "expected"), PATH_COMPARISONS)
def test_path_comparison_operator(operator: str, variable: str, other: str, expected: bool) -> None:
    assert parse_rule(_rule(operator, variable, other), "S").matches(DATA) is expected


TYPE_TESTS: list[tuple[str, str, bool]] = [
    # (operator, variable that has the type, variable that has not)
    ("IsNull", "$.nul", "$.s"),
    ("IsString", "$.s", "$.n"),
    ("IsNumeric", "$.n_more", "$.b"),
    ("IsBoolean", "$.b_false", "$.n"),
    ("IsTimestamp", "$.t_same", "$.t_bad"),
    ("IsPresent", "$.nul", "$.absent"),
]


@pytest.mark.parametrize(("operator", "has", "has_not"), TYPE_TESTS)
@pytest.mark.parametrize("expected", [True, False])
def test_type_test_operator(operator: str, has: str, has_not: str, expected: bool) -> None:
    assert parse_rule(_rule(operator, has, expected), "S").matches(DATA) is expected
    assert parse_rule(_rule(operator, has_not, expected), "S").matches(DATA) is not expected


@pytest.mark.parametrize("variable", ["$.n_str", "$.arr", "$.obj", "$.nul"])
def test_is_numeric_and_is_boolean_are_false_for_other_types(variable: str) -> None:
    assert not parse_rule(_rule("IsNumeric", variable, True), "S").matches(DATA)
    assert not parse_rule(_rule("IsBoolean", variable, True), "S").matches(DATA)


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("StringEquals", "a"),
        ("NumericEquals", 1),
        ("BooleanEquals", True),
        ("TimestampEquals", "2016-08-18T17:33:00Z"),
        ("StringMatches", "*"),
        ("IsNull", True),
        ("IsString", False),
        ("IsNumeric", True),
        ("IsBoolean", True),
        ("IsTimestamp", True),
        ("NumericEqualsPath", "$.n"),
    ],
)
def test_missing_variable_fails_with_states_runtime(operator: str, value: Any) -> None:
    rule = parse_rule(_rule(operator, "$.absent", value), "S")
    with pytest.raises(StatesError) as caught:
        rule.matches(DATA)
    assert caught.value.error == RUNTIME
    assert caught.value.cause.startswith("Invalid path '$.absent'")


def test_missing_path_operand_fails_with_states_runtime() -> None:
    rule = parse_rule(_rule("StringEqualsPath", "$.s", "$.absent"), "S")
    with pytest.raises(StatesError) as caught:
        rule.matches(DATA)
    assert caught.value.error == RUNTIME


def test_is_present_guard_in_and_avoids_the_missing_path_error() -> None:
    rule = parse_rule(
        {
            "And": [
                {"Variable": "$.keyThatMightNotExist", "IsPresent": True},
                {"Variable": "$.keyThatMightNotExist", "StringEquals": "foo"},
            ],
            "Next": "X",
        },
        "S",
    )
    assert rule.matches({}) is False
    assert rule.matches({"keyThatMightNotExist": "foo"}) is True


def test_variable_can_read_the_context_object() -> None:
    rule = parse_rule(_rule("StringEquals", "$$.Execution.Name", "run-1"), "S")
    assert rule.matches({}, {"Execution": {"Name": "run-1"}}) is True
    assert rule.matches({}, {"Execution": {"Name": "run-2"}}) is False


def test_variable_can_index_arrays() -> None:
    rule = parse_rule(_rule("NumericEquals", "$.arr[0]", 1), "S")
    assert rule.matches(DATA) is True


@pytest.mark.parametrize(
    ("combinator", "children", "expected"),
    [
        ("And", [True, True], True),
        ("And", [True, False], False),
        ("Or", [False, True], True),
        ("Or", [False, False], False),
        ("And", [True], True),
        ("Or", [False], False),
    ],
)
def test_and_or(combinator: str, children: list[bool], expected: bool) -> None:
    rules = [{"Variable": "$.b", "BooleanEquals": child} for child in children]
    assert parse_rule({combinator: rules, "Next": "X"}, "S").matches(DATA) is expected


@pytest.mark.parametrize(("value", "expected"), [(True, False), (False, True)])
def test_not(value: bool, expected: bool) -> None:
    rule = parse_rule({"Not": {"Variable": "$.b", "BooleanEquals": value}, "Next": "X"}, "S")
    assert rule.matches(DATA) is expected


def test_the_aws_example_choice_state_goes_to_value_in_twenties() -> None:
    state = parse_choice_state(
        {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
                {
                    "And": [
                        {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                        {"Variable": "$.value", "NumericLessThan": 30},
                    ],
                    "Next": "ValueInTwenties",
                },
            ],
            "Default": "DefaultState",
        },
        "ChoiceStateX",
    )
    assert state.next_state({"type": "Private", "value": 22}) == "ValueInTwenties"
    assert state.next_state({"type": "Public", "value": 22}) == "Public"
    assert state.next_state({"type": "Private", "value": 0}) == "ValueIsZero"
    assert state.next_state({"type": "Private", "value": 30}) == "DefaultState"


def test_no_match_without_default_fails_with_no_choice_matched() -> None:
    state = parse_choice_state(
        {"Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]}, "Pick"
    )
    with pytest.raises(StatesError) as caught:
        state.next_state(DATA)
    assert caught.value.error == NO_CHOICE_MATCHED
    assert "'Pick'" in caught.value.cause


def test_parse_builds_typed_rules() -> None:
    rule = parse_rule(
        {
            "Or": [
                {"Variable": "$.a", "NumericLessThanPath": "$.b"},
                {"Not": {"Variable": "$.c", "IsPresent": False}},
            ]
        },
        "S",
        top_level=False,
    )
    assert rule == Or(
        (
            Comparison("$.a", "NumericLessThan", "$.b", True),
            Not(TypeTest("$.c", "IsPresent", False)),
        )
    )
    assert isinstance(parse_rule({"And": [{"Variable": "$", "IsNull": True}]}, "S"), And)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"Variable": "$.a", "StringSounds": "x", "Next": "X"}, "unknown fields ['StringSounds']"),
        ({"Variable": "$.a", "Next": "X"}, "expected exactly one operator, found none"),
        (
            {"Variable": "$.a", "StringEquals": "x", "IsNull": True, "Next": "X"},
            "expected exactly one operator, found 2",
        ),
        ({"StringEquals": "x", "Next": "X"}, "missing 'Variable'"),
        ({"Variable": "a", "StringEquals": "x"}, "Variable: invalid path 'a'"),
        ({"Variable": "$.a[*]", "StringEquals": "x"}, "is not a reference path"),
        ({"Variable": "$.a", "StringEqualsPath": "$..b"}, "StringEqualsPath: '$..b' is not a"),
        ({"Variable": "$.a", "NumericEqualsPath": 3}, "NumericEqualsPath: expected a path"),
        ({"Variable": "$.a", "StringEquals": 1}, "StringEquals takes a string value"),
        ({"Variable": "$.a", "NumericEquals": "1"}, "NumericEquals takes a numeric value"),
        ({"Variable": "$.a", "NumericLessThan": True}, "NumericLessThan takes a numeric value"),
        ({"Variable": "$.a", "BooleanEquals": "true"}, "BooleanEquals takes a boolean value"),
        ({"Variable": "$.a", "TimestampEquals": 1}, "TimestampEquals takes a timestamp value"),
        ({"Variable": "$.a", "TimestampEquals": "2016-08-18"}, "is not an RFC 3339 timestamp"),
        ({"Variable": "$.a", "TimestampEquals": "2016-13-01T00:00:00Z"}, "is not an RFC 3339"),
        ({"Variable": "$.a", "StringMatches": 1}, "StringMatches takes a string pattern"),
        ({"Variable": "$.a", "StringMatches": "a\\b"}, "must be followed by '*' or"),
        ({"Variable": "$.a", "IsNull": "yes"}, "IsNull takes true or false"),
        ({"Variable": "$.a", "IsPresent": 1}, "IsPresent takes true or false"),
        ({"And": []}, "'And' takes a non-empty array of rules"),
        ({"Or": {"Variable": "$.a", "IsNull": True}}, "'Or' takes a non-empty array"),
        ({"Not": [{"Variable": "$.a", "IsNull": True}]}, "'Not' takes one rule object"),
        ({"Variable": "$.a", "And": [{"Variable": "$.a", "IsNull": True}]}, "'Variable' is not"),
        ({"And": [{"Variable": "$.a", "IsNull": True, "Next": "X"}]}, "'Next' inside a nested"),
        ({"Not": {"Variable": "$.a", "Bogus": 1}}, "unknown fields ['Bogus']"),
        ({"And": ["x"]}, "a rule must be an object"),
    ],
)
def test_parse_rule_rejects_bad_rules_naming_the_state(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_rule(rule, "Pick")
    assert caught.value.state == "Pick"
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({}, "'Choices' must be a non-empty array"),
        ({"Choices": []}, "'Choices' must be a non-empty array"),
        ({"Choices": {"Variable": "$.a"}}, "'Choices' must be a non-empty array"),
        ({"Choices": [{"Variable": "$.a", "IsNull": True}]}, "a top-level rule needs 'Next'"),
        ({"Choices": [{"Variable": "$.a", "IsNull": True, "Next": 3}]}, "needs 'Next'"),
        (
            {"Choices": [{"Variable": "$.a", "IsNull": True, "Next": "A"}], "Default": 1},
            "'Default' must be a state name",
        ),
    ],
)
def test_parse_choice_state_rejects_bad_states(state: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_choice_state(state, "Pick")
    assert caught.value.state == "Pick"
    assert message in str(caught.value)


def test_parse_choice_state_keeps_order_and_default() -> None:
    state = parse_choice_state(
        {
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "First"},
                {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Second"},
            ]
        },
        "Pick",
    )
    assert [c.next for c in state.choices] == ["First", "Second"]
    assert state.default is None
    assert state.next_state({"n": 2}) == "First"
    assert state.next_state({"n": 1}) == "Second"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", (0, 0)),
        ("1970-01-01T00:00:01.5Z", (1, 500_000_000)),
        ("1970-01-01T01:00:00+01:00", (0, 0)),
        ("2016-02-29T00:00:00Z", (1456704000, 0)),
        ("2015-02-29T00:00:00Z", None),
        ("1970-01-01t00:00:00Z", None),
        ("1970-01-01T00:00:00z", None),
        ("1970-01-01T00:00:00", None),
        ("1970-01-01T00:00:00+0100", None),
        ("1970-01-01T00:00:60Z", None),
        ("1970-01-01T00:00:00.1234567891Z", None),
        (19700101, None),
    ],
)
def test_parse_timestamp(text: Any, expected: tuple[int, int] | None) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("module", [choice_module])
def test_docstring_examples_hold(module: ModuleType) -> None:
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
