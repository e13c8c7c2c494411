# ruff: noqa: E501  (hash test vectors and nested calls are long literal strings)
"""Conformance tests for the intrinsic functions.

The "doc" cases are the examples of the AWS Step Functions developer guide (intrinsic functions
page), with their documented outputs; the error cases follow each function's documented input
validation and fail with States.IntrinsicFailure.
"""

from __future__ import annotations

import doctest
import random
import re
from types import ModuleType
from typing import Any

import pytest

from mrbatch.asl import intrinsic_funcs
from mrbatch.asl import intrinsics as intrinsics_module
from mrbatch.asl.errors import (
    PARAMETER_PATH_FAILURE,
    RUNTIME,
    DefinitionError,
    StatesError,
)
from mrbatch.asl.intrinsics import Call, Literal, PathArg, evaluate, parse

DOC_INPUT: dict[str, Any] = {
    "name": "Arnav",
    "template": "Hello, my name is {}.",
    "escapedJsonString": '{"foo": "bar"}',
    "unescapedJson": {"foo": "bar"},
    "Id": 123456,
    "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9],
    "lookingFor": 5,
    "index": 5,
    "dupes": [1, 2, 3, 3, 3, 3, 3, 3, 4],
    "input": "Data to encode",
    "base64": "RGF0YSB0byBlbmNvZGU=",
    "Data": "input data",
    "Algorithm": "SHA-1",
    "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
    "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
    "value1": 111,
    "step": -1,
    "inputString": "This.is+a,test=string",
    "splitter": ".+,=",
    "csv": "1,2,3,4,5",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("States.Format('Hello, my name is {}.', $.name)", "Hello, my name is Arnav."),
        ("States.Format($.template, $.name)", "Hello, my name is Arnav."),
        ("States.StringToJson($.escapedJsonString)", {"foo": "bar"}),
        ("States.JsonToString($.unescapedJson)", '{"foo":"bar"}'),
        ("States.Array($.Id)", [123456]),
        ("States.ArrayPartition($.inputArray,4)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.inputArray, $.lookingFor)", True),
        ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayGetItem($.inputArray, $.index)", 6),
        ("States.ArrayLength($.inputArray)", 9),
        ("States.ArrayUnique($.dupes)", [1, 2, 3, 4]),
        ("States.Base64Encode($.input)", "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode($.base64)", "Data to encode"),
        ("States.Hash($.Data, $.Algorithm)", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("States.JsonMerge($.json1, $.json2, false)", {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}),
        ("States.MathAdd($.value1, $.step)", 110),
        ("States.StringSplit($.csv, ',')", ["1", "2", "3", "4", "5"]),
        ("States.StringSplit($.inputString, $.splitter)", ["This", "is", "a", "test", "string"]),
    ],
)
def test_documented_example_gives_documented_output(expr: str, expected: Any) -> None:
    assert evaluate(expr, DOC_INPUT) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("States.Array()", []),
        (
            "States.Array(1, -2.5, 1e3, 'a', true, false, null)",
            [1, -2.5, 1000.0, "a", True, False, None],
        ),
        ("States.Array('a, b', 'x(y)', ' spaced ')", ["a, b", "x(y)", " spaced "]),
        ("States.Array($$.Execution.Id, $.Id)", ["exec-1", 123456]),
        ("States.Array($.inputArray[?(@ > 7)], $['name'])", [[8, 9], "Arnav"]),
        ("States.Array( States.Array( 1 ) , 2 )", [[1], 2]),
        ("  States.ArrayLength($.inputArray)  ", 9),
        ("States.Format('{} and {}', 1, 'b')", "1 and b"),
        ("States.Format('no placeholders')", "no placeholders"),
        ("States.Format('{}{}{}', true, null, 1.5)", "truenull1.5"),
        ("States.Format('{}', $.unescapedJson)", "{foo=bar}"),
        ("States.Format('{}', States.Array(1, 'a', States.Array()))", "[1, a, []]"),
        ("States.Format('\\{\\} {}', 'x')", "{} x"),
        ("States.Format('it\\'s {}', 'ok')", "it's ok"),
        ("States.Format('back\\\\slash {}', 1)", "back\\slash 1"),
        ("States.Format('lone { and } kept {}', 1)", "lone { and } kept 1"),
        ("States.Format(States.Format('{}', '\\{\\}'), 'x')", "x"),
        ("States.StringToJson('[1, {\"a\": null}]')", [1, {"a": None}]),
        ("States.StringToJson('\"text\"')", "text"),
        ("States.JsonToString(States.Array('é', 1, null))", '["é",1,null]'),
        ("States.JsonToString('a')", '"a"'),
        ("States.ArrayPartition($.inputArray, 20)", [[1, 2, 3, 4, 5, 6, 7, 8, 9]]),
        ("States.ArrayPartition(States.Array(), 2)", []),
        ("States.ArrayPartition($.inputArray, 4.0)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.inputArray, 10)", False),
        ("States.ArrayContains(States.Array($.json1), $.json1)", True),
        ("States.ArrayContains(States.Array(1), true)", False),
        ("States.ArrayRange(9, 1, -3)", [9, 6, 3]),
        ("States.ArrayRange(1, 1, 5)", [1]),
        ("States.ArrayRange(1, 0, 1)", []),
        ("States.ArrayRange(1, 1000, 1)", list(range(1, 1001))),
        ("States.ArrayGetItem($.inputArray, 0)", 1),
        ("States.ArrayGetItem($.inputArray, 8)", 9),
        (
            "States.ArrayUnique(States.Array($.json1, $.json1, 1, true, '1'))",
            [DOC_INPUT["json1"], 1, True, "1"],
        ),
        ("States.Base64Encode('é')", "w6k="),
        ("States.Base64Decode('RGF0YQ')", "Data"),
        ("States.Base64Decode('')", ""),
        ("States.Hash('abc', 'MD5')", "900150983cd24fb0d6963f7d28e17f72"),
        ("States.Hash('abc', 'SHA-1')", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "States.Hash('abc', 'SHA-256')",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "States.Hash('abc', 'SHA-384')",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            "States.Hash('abc', 'SHA-512')",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        ("States.Hash('', 'MD5')", "d41d8cd98f00b204e9800998ecf8427e"),
        ("States.JsonMerge($.json1, States.StringToJson('{}'), false)", DOC_INPUT["json1"]),
        ("States.MathAdd(1.5, 0)", 2),
        ("States.MathAdd(-1.5, 0)", -1),
        ("States.MathAdd(1.4, 0.4)", 1),
        ("States.MathAdd(2147483647, -2147483648)", -1),
        ("States.MathRandom(4, 5)", 4),
        ("States.MathRandom(3.6, 4.5)", 4),
        ("States.StringSplit('a,,b,', ',')", ["a", "b"]),
        ("States.StringSplit('', ',')", []),
        ("States.StringSplit('abc', ',')", ["abc"]),
        (
            "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit('arn:aws:x/img/1.2.3', '/'), 2), '.'), 1)",
            "2",
        ),
    ],
)
def test_evaluate_gives_exact_output(expr: str, expected: Any) -> None:
    assert evaluate(expr, DOC_INPUT, {"Execution": {"Id": "exec-1"}}) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("States.Format($.Id)", "argument 1 must be a string, got a number"),
        ("States.Format('{} {}', 1)", "the template has 2 placeholders but 1 values were given"),
        ("States.Format('{}', 1, 2)", "the template has 1 placeholders but 2 values were given"),
        ("States.StringToJson($.Id)", "argument 1 must be a string"),
        ("States.StringToJson('{nope')", "the string is not valid JSON"),
        ("States.StringToJson('')", "the string is not valid JSON"),
        ("States.ArrayPartition($.name, 2)", "argument 1 must be an array, got a string"),
        ("States.ArrayPartition($.inputArray, 0)", "the chunk size must be a positive integer"),
        ("States.ArrayPartition($.inputArray, -1)", "the chunk size must be a positive integer"),
        ("States.ArrayPartition($.inputArray, 1.5)", "argument 2 must be an integer, got 1.5"),
        ("States.ArrayPartition($.inputArray, '2')", "argument 2 must be a number, got a string"),
        ("States.ArrayContains($.json1, 1)", "argument 1 must be an array, got an object"),
        ("States.ArrayRange(1, 9, 0)", "the step must not be 0"),
        ("States.ArrayRange(1.5, 9, 1)", "argument 1 must be an integer"),
        ("States.ArrayRange(1, '9', 1)", "argument 2 must be a number"),
        ("States.ArrayRange(1, true, 1)", "argument 2 must be a number, got a boolean"),
        ("States.ArrayRange(1, 1001, 1)", "the range has 1001 items (max 1000)"),
        ("States.ArrayRange(0, 2000, 2)", "the range has 1001 items (max 1000)"),
        ("States.ArrayGetItem($.inputArray, 9)", "index 9 is out of bounds for an array of 9"),
        ("States.ArrayGetItem($.inputArray, -1)", "index -1 is out of bounds"),
        ("States.ArrayGetItem($.json1, 0)", "argument 1 must be an array"),
        ("States.ArrayGetItem($.inputArray, null)", "argument 2 must be a number, got null"),
        ("States.ArrayLength($.name)", "argument 1 must be an array, got a string"),
        ("States.ArrayUnique($.Id)", "argument 1 must be an array, got a number"),
        ("States.Base64Encode($.Id)", "argument 1 must be a string"),
        ("States.Base64Decode('!!!!')", "the string is not base64-encoded UTF-8 text"),
        ("States.Base64Decode('/w==')", "the string is not base64-encoded UTF-8 text"),
        ("States.Base64Decode($.inputArray)", "argument 1 must be a string, got an array"),
        ("States.Hash($.Data, 'SHA-2')", "unknown algorithm 'SHA-2'"),
        ("States.Hash($.Data, 'sha-1')", "unknown algorithm 'sha-1'"),
        ("States.Hash($.Id, 'MD5')", "argument 1 must be a string, got a number"),
        ("States.JsonMerge($.json1, $.json2, true)", "deep merge (true) is not supported"),
        ("States.JsonMerge($.json1, $.inputArray, false)", "the first two arguments must be"),
        (
            "States.JsonMerge($.json1, $.json2, 'false')",
            "argument 3 (deep merge) must be a boolean",
        ),
        ("States.MathRandom(5, 5)", "the start (5) must be less than the end (5)"),
        ("States.MathRandom(9, 1)", "the start (9) must be less than the end (1)"),
        ("States.MathRandom('1', 5)", "argument 1 must be a number, got a string"),
        ("States.MathRandom(1, 5, 'seed')", "argument 3 must be a number"),
        ("States.MathAdd(2147483648, 0)", "2147483648 is outside the range"),
        ("States.MathAdd(0, -2147483649)", "-2147483649 is outside the range"),
        ("States.MathAdd(true, 1)", "argument 1 must be a number, got a boolean"),
        ("States.MathAdd($.name, 1)", "argument 1 must be a number, got a string"),
        ("States.StringSplit($.Id, ',')", "argument 1 must be a string, got a number"),
        ("States.StringSplit('a', '')", "the delimiter must not be empty"),
        ("States.StringSplit('a', null)", "argument 2 must be a string, got null"),
    ],
)
def test_bad_argument_fails_with_intrinsic_failure(expr: str, message: str) -> None:
    with pytest.raises(StatesError) as caught:
        evaluate(expr, DOC_INPUT)
    assert caught.value.error == RUNTIME
    function = expr.split("(")[0]
    assert caught.value.cause.startswith(f"{function}: ")
    assert message in caught.value.cause


@pytest.mark.parametrize("function", ["Base64Encode", "Base64Decode", "Hash"])
def test_encoding_input_is_limited_to_10000_characters(function: str) -> None:
    extra = ", 'MD5'" if function == "Hash" else ""
    ok = "QUJD" * 2500  # 10,000 characters, valid base64 too
    assert evaluate(f"States.{function}($.s{extra})", {"s": ok}) is not None
    with pytest.raises(StatesError) as caught:
        evaluate(f"States.{function}($.s{extra})", {"s": ok + "QUJD"})
    assert caught.value.error == RUNTIME
    assert "has 10004 characters (max 10000)" in caught.value.cause


def test_math_random_stays_in_range_with_the_injected_source() -> None:
    rng = random.Random(1)
    values = {evaluate("States.MathRandom(1, 4)", {}, rng=rng) for _ in range(200)}
    assert values == {1, 2, 3}


def test_math_random_is_reproducible_with_a_seeded_source() -> None:
    first = [evaluate("States.MathRandom(0, 1000000)", {}, rng=random.Random(42)) for _ in "ab"]
    assert first[0] == first[1]


def test_math_random_with_a_seed_argument_ignores_the_source() -> None:
    a = evaluate("States.MathRandom(0, 1000000, 7)", {}, rng=random.Random(1))
    b = evaluate("States.MathRandom(0, 1000000, 7)", {}, rng=random.Random(2))
    assert a == b


def test_uuid_is_a_version_4_uuid_reproducible_with_the_source() -> None:
    a = evaluate("States.UUID()", {}, rng=random.Random(3))
    b = evaluate("States.UUID()", {}, rng=random.Random(3))
    c = evaluate("States.UUID()", {})
    assert a == b != c
    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(pattern, a) and re.fullmatch(pattern, c)


def test_missing_path_argument_fails_with_the_path_error() -> None:
    with pytest.raises(StatesError) as caught:
        evaluate("States.Array($.nope)", {})
    assert caught.value.error == RUNTIME
    with pytest.raises(StatesError) as caught:
        evaluate("States.Array($.nope)", {}, path_error=PARAMETER_PATH_FAILURE)
    assert caught.value.error == PARAMETER_PATH_FAILURE


def test_evaluate_bad_syntax_at_run_time_is_an_intrinsic_failure() -> None:
    with pytest.raises(StatesError) as caught:
        evaluate("States.Array(", {})
    assert caught.value.error == RUNTIME


def test_evaluate_accepts_a_parsed_call() -> None:
    assert evaluate(parse("States.MathAdd($.a, 1)"), {"a": 1}) == 2


def test_parse_builds_the_call_tree() -> None:
    assert parse("States.Format('a\\{', $$.x, States.UUID(), -3)") == Call(
        "States.Format",
        (Literal("a{", "a\\{"), PathArg("$$.x"), Call("States.UUID", ()), Literal(-3)),
    )


def test_parse_keeps_commas_and_parentheses_inside_path_filters() -> None:
    call = parse("States.Array($.a[?(@.b == 'x,y)')], 1)")
    assert call.args == (PathArg("$.a[?(@.b == 'x,y)')]"), Literal(1))


def _nested(depth: int) -> str:
    return "States.Array(" * depth + ")" * depth


def test_parse_allows_ten_nested_calls_and_refuses_eleven() -> None:
    assert evaluate(_nested(10), {}) == [[[[[[[[[[]]]]]]]]]]
    with pytest.raises(DefinitionError, match="more than 10 nested intrinsic functions"):
        parse(_nested(11))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("States.Nope()", "unknown intrinsic function 'States.Nope'"),
        ("States.format('{}', 1)", "unknown intrinsic function 'States.format'"),
        ("Format('x')", "expected States.<Function>("),
        ("$.a", "expected States.<Function>("),
        ("States.Array", "expected States.<Function>("),
        ("States.Array(1", "expected ',' or ')'"),
        ("States.Array(1,)", "expected a 'string', a number"),
        ("States.Array(,1)", "expected a 'string', a number"),
        ("States.Array(1 2)", "expected ',' or ')'"),
        ("States.Array('abc)", "unterminated string literal"),
        ("States.Array('a\\b')", "open escape"),
        ("States.Array('a\\')", "unterminated string literal"),
        ("States.Array('a\\", "open escape"),
        ('States.Array("double")', "expected a 'string', a number"),
        ("States.Array(truth)", "expected a 'string', a number"),
        ("States.Array(01)", "expected ',' or ')'"),
        ("States.Array(1) extra", "unexpected text after the call"),
        ("States.Array($.a[)", "invalid path"),
        ("States.Array($.)", "invalid path"),
        ("States.UUID(1)", "States.UUID takes 0 arguments, got 1"),
        ("States.Format()", "States.Format takes 1.. arguments, got 0"),
        ("States.StringToJson()", "States.StringToJson takes 1 arguments, got 0"),
        ("States.JsonToString(1, 2)", "States.JsonToString takes 1 arguments, got 2"),
        ("States.ArrayPartition($.a)", "States.ArrayPartition takes 2 arguments, got 1"),
        ("States.ArrayContains($.a)", "States.ArrayContains takes 2 arguments"),
        ("States.ArrayRange(1, 2)", "States.ArrayRange takes 3 arguments, got 2"),
        ("States.ArrayGetItem($.a)", "States.ArrayGetItem takes 2 arguments"),
        ("States.ArrayLength()", "States.ArrayLength takes 1 arguments, got 0"),
        ("States.ArrayUnique($.a, 1)", "States.ArrayUnique takes 1 arguments, got 2"),
        ("States.Base64Encode()", "States.Base64Encode takes 1 arguments"),
        ("States.Base64Decode('a', 'b')", "States.Base64Decode takes 1 arguments"),
        ("States.Hash('a')", "States.Hash takes 2 arguments, got 1"),
        ("States.JsonMerge($.a, $.b)", "States.JsonMerge takes 3 arguments, got 2"),
        ("States.MathRandom(1)", "States.MathRandom takes 2..3 arguments, got 1"),
        ("States.MathRandom(1, 2, 3, 4)", "States.MathRandom takes 2..3 arguments, got 4"),
        ("States.MathAdd(1)", "States.MathAdd takes 2 arguments, got 1"),
        ("States.StringSplit('a')", "States.StringSplit takes 2 arguments, got 1"),
    ],
)
def test_parse_rejects_bad_syntax_with_a_definition_error(expr: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse(expr)
    assert message in str(caught.value)


@pytest.mark.parametrize("module", [intrinsics_module, intrinsic_funcs])
def test_docstring_examples_hold(module: ModuleType) -> None:
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
