"""Conformance tests for Step Functions paths: select, reference paths, ResultPath, templates.

Expected values come from the AWS Step Functions developer guide (paths, InputPath/OutputPath,
ResultPath, Parameters pages) and from Jayway JsonPath, which Step Functions uses.
"""

from __future__ import annotations

import doctest
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrbatch.asl import errors as errors_module
from mrbatch.asl import pathfilter, pathsyntax
from mrbatch.asl import paths as paths_module
from mrbatch.asl import template as template_module
from mrbatch.asl.errors import (
    PARAMETER_PATH_FAILURE,
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    DefinitionError,
    StatesError,
)
from mrbatch.asl.paths import (
    apply_result_path,
    is_reference_path,
    parse_path,
    select,
    validate_path,
)
from mrbatch.asl.template import apply_payload_template, validate_payload_template

# The example document of the AWS "Paths" page, plus a store for filters and slices.
DOC: dict[str, Any] = {
    "foo": 123,
    "bar": ["a", "b", "c"],
    "car": {"cdr": True},
    "odd key": {"a.b": 1},
    "store": {
        "book": [
            {"title": "A", "price": 8.95, "tag": "x"},
            {"title": "B", "price": 12.99},
            {"title": "C", "price": 8.99, "tag": "y"},
            {"title": "D", "price": 22.99, "isbn": None},
        ],
        "bicycle": {"price": 19.95},
    },
}
CONTEXT = {"Execution": {"Id": "arn:exec:1", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2}}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.foo", 123),
        ("$.bar", ["a", "b", "c"]),
        ("$.car.cdr", True),
        ("$['car']['cdr']", True),
        ('$["car"].cdr', True),
        ("$['odd key']['a.b']", 1),
        ("$.bar[0]", "a"),
        ("$.bar[2]", "c"),
        ("$.bar[-1]", "c"),
        ("$.store.book[1].title", "B"),
        ("$.bar.length()", 3),
        ("$.store.book.length()", 4),
    ],
)
def test_select_definite_path_returns_the_node(path: str, expected: Any) -> None:
    assert select(path, DOC) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.bar[*]", ["a", "b", "c"]),
        ("$.car.*", [True]),
        ("$.store.book[*].title", ["A", "B", "C", "D"]),
        ("$.store.book[*].tag", ["x", "y"]),
        ("$.bar[0,2]", ["a", "c"]),
        ("$.bar[1:]", ["b", "c"]),
        ("$.bar[:2]", ["a", "b"]),
        ("$.bar[-2:]", ["b", "c"]),
        ("$.store..price", [8.95, 12.99, 8.99, 22.99, 19.95]),
        ("$..cdr", [True]),
        ("$.store.book[?(@.price < 10)].title", ["A", "C"]),
        ("$.store.book[?(@.price >= 12.99)].title", ["B", "D"]),
        ("$.store.book[?(@.tag)].title", ["A", "C"]),
        ("$.store.book[?(@.isbn)].title", ["D"]),
        ("$.store.book[?(!@.tag)].title", ["B", "D"]),
        ("$.store.book[?(@.tag == 'y')].title", ["C"]),
        ('$.store.book[?(@.tag != "y")].title', ["A", "B", "D"]),
        ("$.store.book[?(@.price < 10 && @.tag == 'x')].title", ["A"]),
        ("$.store.book[?(@.price > 20 || @.tag == 'x')].title", ["A", "D"]),
        ("$.store.book[?((@.price > 20) || (@.title == 'B'))].title", ["B", "D"]),
        ("$.store.book[?(@.title =~ /[ab]/i)].title", ["A", "B"]),
        ("$.store.book[?(@.price < $.store.bicycle.price)].title", ["A", "B", "C"]),
        ("$.store.book[?(@.price < 'x')].title", []),
        ("$.store.book[?(@.nothing == 1)]", []),
        ("$.store.book[*].nothing", []),
        ("$['foo','car']", [{"foo": 123, "car": {"cdr": True}}]),
    ],
)
def test_select_indefinite_path_returns_every_match(path: str, expected: Any) -> None:
    assert select(path, DOC) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$$.Execution.Id", "arn:exec:1"), ("$$.Map.Item.Index", 2), ("$$", CONTEXT)],
)
def test_select_context_path_reads_the_context_object(path: str, expected: Any) -> None:
    assert select(path, DOC, context=CONTEXT) == expected


@pytest.mark.parametrize(
    "path", ["$.nope", "$.bar[3]", "$.bar[-4]", "$.foo.bar", "$.bar.x", "$.car[0]"]
)
@pytest.mark.parametrize("error", [RUNTIME, PARAMETER_PATH_FAILURE])
def test_select_missing_definite_path_raises_the_callers_error(path: str, error: str) -> None:
    with pytest.raises(StatesError) as caught:
        select(path, DOC, error=error)
    assert caught.value.error == error
    assert repr(path) in caught.value.cause


def test_select_missing_context_path_names_the_context_object() -> None:
    with pytest.raises(StatesError, match="could not be found in the context object"):
        select("$$.Task.Token", {}, context=CONTEXT)


def test_select_length_of_a_number_fails() -> None:
    with pytest.raises(StatesError) as caught:
        select("$.foo.length()", DOC)
    assert caught.value.error == RUNTIME


@pytest.mark.parametrize(
    "path",
    [
        "",
        "foo",
        "$.",
        "$..",
        "$.a..",
        "$[",
        "$[]",
        "$.a[x]",
        "$.a['b'",
        "$.a[1:2:3]",
        "$.a[?(@.b == )]",
        "$.a[?(@.b < 1]",
        "$.a[?('x')]",
        "$.a.length().b",
        "$1a",  # `$a` is the variable a; a name cannot start with a digit
    ],
)
def test_parse_path_rejects_bad_syntax(path: str) -> None:
    with pytest.raises(DefinitionError, match="invalid path"):
        parse_path(path)


def test_select_with_bad_syntax_at_run_time_is_a_states_error() -> None:
    with pytest.raises(StatesError) as caught:
        select("$.a[", {}, error=PARAMETER_PATH_FAILURE)
    assert caught.value.error == PARAMETER_PATH_FAILURE


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", True),
        ("$.a", True),
        ("$.a.b[0]", True),
        ("$['a b'][3].c", True),
        ("$$.Execution.Id", True),
        ("$.a[*]", False),
        ("$..a", False),
        ("$.a[0,1]", False),
        ("$.a[0:1]", False),
        ("$.a[?(@.b)]", False),
        ("$.a[-1]", False),
        ("$.a.length()", False),
        ("$.a[", False),
        ("a.b", False),
    ],
)
def test_is_reference_path(path: str, expected: bool) -> None:
    assert is_reference_path(path) is expected


def test_validate_path_names_state_and_field() -> None:
    with pytest.raises(DefinitionError) as caught:
        validate_path("$.a[", state="Load", field="InputPath")
    assert str(caught.value).startswith("state 'Load': InputPath: invalid path '$.a['")
    assert caught.value.state == "Load"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference": True}, "is not a reference path"),
        ({"allow_context": False}, "may not use the context object"),
    ],
)
def test_validate_path_enforces_reference_and_context_rules(
    kwargs: dict[str, bool], message: str
) -> None:
    path = "$$.a[*]" if "reference" in kwargs else "$$.a"
    with pytest.raises(DefinitionError, match=message):
        validate_path(path, state="S", field="ResultPath", **kwargs)


def test_validate_path_rejects_non_strings() -> None:
    with pytest.raises(DefinitionError, match="expected a path string"):
        validate_path(3, state="S", field="OutputPath")


def test_validate_path_returns_the_parsed_path() -> None:
    assert validate_path("$.a[0]", state="S", field="InputPath").definite


# --- ResultPath: the examples of the AWS "ResultPath" page, then the edge cases ---------------

INPUT = {"comment": "This is a test", "details": "Default example", "who": "Step Functions"}
RESULT = "Hello, Step Functions!"


def test_result_path_dollar_replaces_the_input() -> None:
    assert apply_result_path(INPUT, RESULT, "$") == RESULT


def test_result_path_null_discards_the_result() -> None:
    assert apply_result_path(INPUT, RESULT, None) == INPUT


def test_result_path_field_includes_the_result_with_the_input() -> None:
    assert apply_result_path(INPUT, RESULT, "$.taskresult") == {**INPUT, "taskresult": RESULT}


def test_result_path_overwrites_an_existing_field() -> None:
    assert apply_result_path(INPUT, RESULT, "$.who") == {**INPUT, "who": RESULT}


def test_result_path_creates_missing_intermediate_objects() -> None:
    out = apply_result_path({"a": {"x": 1}}, [1], "$.a.b.c")
    assert out == {"a": {"x": 1, "b": {"c": [1]}}}


def test_result_path_sets_an_existing_array_element() -> None:
    out = apply_result_path({"a": [1, {"b": 2}]}, 9, "$.a[1].b")
    assert out == {"a": [1, {"b": 9}]}


def test_result_path_does_not_mutate_the_input() -> None:
    original = {"a": {"b": 1}, "c": [1]}
    apply_result_path(original, 2, "$.a.b")
    assert original == {"a": {"b": 1}, "c": [1]}


@pytest.mark.parametrize(
    ("raw_input", "path"),
    [
        ("a string", "$.a"),
        ([1, 2], "$.a"),
        ({"a": 1}, "$.a.b"),
        ({"a": [1]}, "$.a.b"),
        ({"a": [1]}, "$.a[1]"),
        ({"a": {}}, "$.a[0]"),
        ({}, "$.a[*]"),
        ({}, "$$.a"),
        ({}, "$.a["),
    ],
)
def test_result_path_that_cannot_apply_fails_with_match_failure(raw_input: Any, path: str) -> None:
    with pytest.raises(StatesError) as caught:
        apply_result_path(raw_input, 1, path)
    assert caught.value.error == RESULT_PATH_MATCH_FAILURE


# --- payload templates ---------------------------------------------------------------------


def _fake_intrinsic(expr: str, data: Any, context: Any) -> Any:
    return {"expr": expr, "data": data, "context": context}


def test_payload_template_resolves_paths_context_and_nesting() -> None:
    template = {
        "static": "x",
        "num": 3,
        "comment.$": "$.comment",
        "exec.$": "$$.Execution.Id",
        "nested": {"who.$": "$.who", "list": [{"idx.$": "$$.Map.Item.Index"}, "plain", 5]},
        "all.$": "$",
    }
    out = apply_payload_template(template, INPUT, CONTEXT)
    assert out == {
        "static": "x",
        "num": 3,
        "comment": "This is a test",
        "exec": "arn:exec:1",
        "nested": {"who": "Step Functions", "list": [{"idx": 2}, "plain", 5]},
        "all": INPUT,
    }


def test_payload_template_calls_the_intrinsic_evaluator() -> None:
    out = apply_payload_template({"f.$": "States.UUID()"}, {"d": 1}, {"c": 2}, _fake_intrinsic)
    assert out == {"f": {"expr": "States.UUID()", "data": {"d": 1}, "context": {"c": 2}}}


def test_payload_template_defaults_to_the_real_intrinsics() -> None:
    out = apply_payload_template({"s.$": "States.Format('{}-{}', $.a, $$.b)"}, {"a": 1}, {"b": 2})
    assert out == {"s": "1-2"}


def test_payload_template_missing_path_fails_with_parameter_path_failure() -> None:
    with pytest.raises(StatesError) as caught:
        apply_payload_template({"x.$": "$.missing"}, INPUT, CONTEXT)
    assert caught.value.error == PARAMETER_PATH_FAILURE


def test_payload_template_error_name_is_the_callers() -> None:
    with pytest.raises(StatesError) as caught:
        apply_payload_template({"x.$": "$.missing"}, INPUT, CONTEXT, error=RUNTIME)
    assert caught.value.error == RUNTIME


@pytest.mark.parametrize("value", ["plain", 3, None, {"a": 1}])
def test_payload_template_dynamic_field_needs_a_path(value: Any) -> None:
    with pytest.raises(StatesError, match="needs a path or an intrinsic call"):
        apply_payload_template({"x.$": value}, INPUT, CONTEXT)


def test_validate_payload_template_accepts_a_good_template_that_then_applies() -> None:
    # Paths, context paths and intrinsics under `.$` keys, nested in lists and objects; a
    # plain value under a plain key is data, not a path, and is not checked.
    template = {
        "a.$": "$.who",
        "b": [{"c.$": "$$.Execution.Id"}, "$.not-a-path"],
        "d.$": "States.Array($.comment, 1)",
        "e": {"f.$": "States.Format('{}!', $.details)"},
        "g": "plain text",
    }
    validate_payload_template(template, state="S", field="Parameters")  # raises if refused
    assert apply_payload_template(template, INPUT, CONTEXT) == {
        "a": "Step Functions",
        "b": [{"c": "arn:exec:1"}, "$.not-a-path"],
        "d": ["This is a test", 1],
        "e": {"f": "Default example!"},
        "g": "plain text",
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"a.$": "$.x["}, r"Parameters.a.\$: invalid path"),
        ({"a": [{"b.$": "x"}]}, r"Parameters.a\[0\].b.\$: expected a path or an intrinsic"),
        ({"a.$": 1}, r"Parameters.a.\$: expected a path or an intrinsic call, got 1"),
        ({"a.$": "States.Nope()"}, "unknown intrinsic function 'States.Nope'"),
        ({"a.$": "States.Array("}, r"Parameters.a.\$: intrinsic"),
    ],
)
def test_validate_payload_template_reports_the_bad_field(
    template: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:
        validate_payload_template(template, state="Build", field="Parameters")
    assert caught.value.state == "Build"


# --- properties and docstring examples -------------------------------------------------------

_NAMES = st.text(alphabet="abcXYZ_- 1é.", min_size=1, max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.dictionaries(_NAMES, _JSON, max_size=4),
    names=st.lists(_NAMES, min_size=1, max_size=4),
    result=_JSON,
)
def test_result_path_then_select_gives_back_the_result(
    raw: dict[str, Any], names: list[str], result: Any
) -> None:
    path = "$" + "".join(f"['{name}']" for name in names)
    try:
        out = apply_result_path(raw, result, path)
    except StatesError as err:  # only when the path runs into a non-object
        assert err.error == RESULT_PATH_MATCH_FAILURE
        return
    assert select(path, out) == result
    # every top-level member not on the path is kept as it was
    assert {k: v for k, v in out.items() if k != names[0]} == {
        k: v for k, v in raw.items() if k != names[0]
    }


@pytest.mark.parametrize(
    "module", [paths_module, template_module, pathsyntax, pathfilter, errors_module]
)
def test_docstring_examples_hold(module: ModuleType) -> None:
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
