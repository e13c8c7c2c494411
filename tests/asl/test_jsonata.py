"""JSONata states (`QueryLanguage: JSONata`): fields, `$states`, functions, errors, validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import DefinitionError, Engine, ExecutionRecord, StatesError
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.loader import load_definition

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


def _boom(event: JsonValue) -> JsonValue:
    raise StatesError("Custom.Boom", "no")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        eng.resources.register_function("echo", lambda e: e, in_process=True)
        eng.resources.register_function("boom", _boom, in_process=True)
        yield eng


def run(engine: Engine, states: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": states}
    arn = engine.create_state_machine("sm", definition)
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def test_task_arguments_and_output_evaluate_expressions_anywhere_in_strings(
    engine: Engine,
) -> None:
    """AWS (Transforming data with JSONata): "JSONata syntax: "{% <JSONata expression> %}""
    and the converted sample: `"title": "{% $states.input.title %}"`, while
    `"not-evaluated": "$customerName"` stays a literal."""
    done = run(
        engine,
        {
            "A": {
                "Type": "Task",
                "Resource": LAMBDA + "echo",
                "Arguments": {
                    "static": "Hello",
                    "title": "{% $states.input.title %}",
                    "nested": ["{% $count($states.input.items) %}", "$customerName"],
                },
                "Output": {"got": "{% $states.result %}", "was": "{% $states.input.title %}"},
                "End": True,
            }
        },
        {"title": "Doctor", "items": [1, 2, 3]},
    )
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == {
        "got": {"static": "Hello", "title": "Doctor", "nested": [3, "$customerName"]},
        "was": "Doctor",
    }


def test_output_defaults_to_result_and_assign_reads_result_and_variables(engine: Engine) -> None:
    """AWS (Passing data between states with variables): "JSONata states can use
    `$states.result` in Assign"; the `Output` of a Task defaults to `$states.result`."""
    done = run(
        engine,
        {
            "A": {
                "Type": "Task",
                "Resource": LAMBDA + "echo",
                "Arguments": {"n": "{% $states.input.n %}"},
                "Assign": {"doubled": "{% $states.result.n * 2 %}"},
                "Next": "B",
            },
            "B": {"Type": "Pass", "Output": {"v": "{% $doubled + 1 %}"}, "End": True},
        },
        {"n": 20},
    )
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == {"v": 41}


def test_choice_condition_picks_first_true_rule_with_its_output(engine: Engine) -> None:
    """AWS (Choice state): "Condition (Optional, JSONata only) — A JSONata expression that
    evaluates to true or false" and the first matching rule is taken."""
    states = {
        "A": {
            "Type": "Choice",
            "Choices": [
                {"Condition": "{% $states.input.n > 10 %}", "Next": "Big", "Output": "big"},
                {"Condition": "{% $states.input.n > 0 %}", "Next": "Small"},
            ],
            "Default": "Small",
        },
        "Big": {"Type": "Succeed"},
        "Small": {
            "Type": "Pass",
            "Output": "{% 'small ' & $string($states.input.n) %}",
            "End": True,
        },
    }
    assert run(engine, states, {"n": 11}).output == "big"
    assert run(engine, states, {"n": 3}).output == "small 3"


def test_map_items_and_item_selector_read_states_context(engine: Engine) -> None:
    """AWS (Map state, JSONata): "Items ... a JSON array or a JSONata expression that must
    evaluate to an array" and ItemSelector reads `$states.context.Map.Item.Value`."""
    done = run(
        engine,
        {
            "A": {
                "Type": "Map",
                "Items": "{% $states.input.xs %}",
                "ItemSelector": {
                    "v": "{% $states.context.Map.Item.Value * 10 %}",
                    "i": "{% $states.context.Map.Item.Index %}",
                },
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
        {"xs": [1, 2]},
    )
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == [{"v": 10, "i": 0}, {"v": 20, "i": 1}]


def test_step_functions_functions_are_available(engine: Engine) -> None:
    """AWS (Transforming data with JSONata, "JSONata functions provided by Step Functions"):
    `$partition`, `$range` (end included), `$hash`, `$random` (with an optional seed),
    `$uuid` and `$parse`."""
    done = run(
        engine,
        {
            "A": {
                "Type": "Pass",
                "Output": {
                    "partition": "{% $partition([1,2,3,4,5], 2) %}",
                    "range": "{% $range(0, 10, 5) %}",
                    "hash": "{% $hash('a', 'SHA-256') %}",
                    "seeded": "{% $random(7) = $random(7) %}",
                    "random": "{% $random() < 1 %}",
                    "uuid": "{% $length($uuid()) %}",
                    "parsed": "{% $parse($states.input.s).a %}",
                },
                "End": True,
            }
        },
        {"s": '{"a": [1]}'},
    )
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == {
        "partition": [[1, 2], [3, 4], [5]],
        "range": [0, 5, 10],
        "hash": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
        "seeded": True,
        "random": True,
        "uuid": 36,
        "parsed": [1],
    }


def test_failing_expression_raises_query_evaluation_error_that_catch_catches(
    engine: Engine,
) -> None:
    """AWS (Error handling): "States.QueryEvaluationError: Query evaluation failed in a
    JSONata state"; it is a state error that `Catch` handles, and the catcher's Output reads
    `$states.errorOutput`."""
    done = run(
        engine,
        {
            "A": {
                "Type": "Task",
                "Resource": LAMBDA + "echo",
                "Arguments": "{% $parse('not json') %}",
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Output": "{% $states.errorOutput.Error %}",
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
        {},
    )
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == "States.QueryEvaluationError"


def test_expression_returning_undefined_fails_with_query_evaluation_error(
    engine: Engine,
) -> None:
    """Recorded AWS history (a public project's failed execution): "States.QueryEvaluationError
    ... The JSONata expression '$states.input.pushLocation' specified for the field
    'Arguments/Input/pushLocation' returned nothing (undefined)."
    """
    done = run(
        engine,
        {
            "A": {
                "Type": "Task",
                "Resource": LAMBDA + "echo",
                "Arguments": {"Input": {"where": "{% $states.input.missing %}"}},
                "End": True,
            }
        },
        {},
    )
    assert (done.status.value, done.error) == ("FAILED", "States.QueryEvaluationError")
    assert "'Arguments/Input/where' returned nothing (undefined)" in (done.cause or "")


def test_expression_returning_null_is_a_value(engine: Engine) -> None:
    """JSONata distinguishes null from undefined; only undefined fails ("returned nothing
    (undefined)", recorded AWS history), so an explicit null is passed on."""
    done = run(
        engine, {"A": {"Type": "Pass", "Output": "{% $states.input.x %}", "End": True}}, {"x": None}
    )
    assert (done.status.value, done.output) == ("SUCCEEDED", None)


def test_uncaught_query_error_fails_execution_with_its_name(engine: Engine) -> None:
    """AWS (Error handling): "States.QueryEvaluationError: Query evaluation failed in a
    JSONata state, for example a type error"."""
    done = run(engine, {"A": {"Type": "Pass", "Output": "{% 1 + 'a' %}", "End": True}}, {})
    assert done.status.value == "FAILED"
    assert done.error == "States.QueryEvaluationError"


def test_fail_state_error_and_cause_are_expressions(engine: Engine) -> None:
    """AWS (Fail state): in JSONata states Error and Cause may be JSONata expressions."""
    done = run(
        engine,
        {"A": {"Type": "Fail", "Error": "{% $states.input.e %}", "Cause": "fixed"}},
        {"e": "My.Error"},
    )
    assert (done.status.value, done.error, done.cause) == ("FAILED", "My.Error", "fixed")


def test_state_level_query_language_overrides_top_level(engine: Engine) -> None:
    """AWS (Transforming data): "QueryLanguage ... Set explicitly; could be set and
    inherited from top-level" — a JSONata state inside a JSONPath machine."""
    arn = engine.create_state_machine(
        "mixed",
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Parameters": {"x.$": "$.x"}, "Next": "B"},
                "B": {
                    "QueryLanguage": "JSONata",
                    "Type": "Pass",
                    "Output": "{% $states.input.x %}",
                    "End": True,
                },
            },
        },
    )
    done = engine.wait_for(engine.start_execution(arn, {"x": 5}), timeout=30)
    assert done.output == 5


@pytest.mark.parametrize(
    "field, value",
    [
        ("InputPath", "$.a"),
        ("Parameters", {"a": 1}),
        ("ResultSelector", {"a": 1}),
        ("ResultPath", "$.r"),
        ("OutputPath", "$.o"),
    ],
)
def test_jsonpath_field_in_jsonata_state_is_refused_at_load(field: str, value: JsonValue) -> None:
    """AWS (Transforming data with JSONata): "After you select JSONata, your workflow fields
    will be reduced from five JSONPath fields (InputPath, Parameters, ResultSelector,
    ResultPath, and OutputPath) to only two fields: Arguments and Output.\""""
    state = {"Type": "Task", "Resource": LAMBDA + "echo", "End": True, field: value}
    with pytest.raises(DefinitionError, match=field):
        load_definition({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}})


def test_items_path_in_jsonata_map_is_refused_at_load() -> None:
    """AWS (Map state): ItemsPath is "JSONPath only"; a JSONata Map uses Items."""
    state = {
        "Type": "Map",
        "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True,
    }
    with pytest.raises(DefinitionError, match="ItemsPath"):
        load_definition({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}})


def test_invalid_expression_is_refused_at_load() -> None:
    """AWS validates JSONata expressions when the state machine is created."""
    state = {"Type": "Pass", "Output": {"x": "{% 1 + %}"}, "End": True}
    with pytest.raises(DefinitionError, match="Output/x"):
        load_definition({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}})


def test_unknown_query_language_is_refused_at_load() -> None:
    """AWS: QueryLanguage is "JSONPath" or "JSONata"."""
    with pytest.raises(DefinitionError, match="QueryLanguage"):
        load_definition(
            {"QueryLanguage": "XPath", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
        )
