"""Workflow variables (JSONPath mode): Assign, `$name`, scopes, evaluation order, limits.

Each test quotes the AWS Developer Guide ("Passing data between states with variables").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import DefinitionError, Engine, ExecutionRecord, StatesError
from mrbatch.asl.definition import JsonValue

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
    arn = engine.create_state_machine("sm", {"StartAt": "A", "States": states})
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def test_assigned_variable_is_read_later_in_parameters_and_intrinsics(engine: Engine) -> None:
    """AWS: "With workflow variables, you can store data in a step and retrieve that data in
    future steps." and "To reference a variable, prepend the name with a dollar sign ($),
    for example, $productName." """
    states = {
        "A": {
            "Type": "Pass",
            "Assign": {"product": {"name": "p1"}, "count": 42, "id.$": "$.id"},
            "Next": "B",
        },
        "B": {"Type": "Pass", "Result": "ignored", "Next": "C"},
        "C": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$product.name",
                "c.$": "$count",
                "s.$": "States.Format('{}-{}', $id, $count)",
            },
            "End": True,
        },
    }
    done = run(engine, states, {"id": "x7"})
    assert done.output == {"n": "p1", "c": 42, "s": "x7-42"}


def test_assign_sees_values_of_variables_from_state_entry(engine: Engine) -> None:
    """AWS: variables assigned by a state are not visible inside that same state's other
    fields: "Step Functions evaluates all expressions ... using the variable values at the
    time the state is entered" (the swap example: x and y exchange values)."""
    states = {
        "A": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "B"},
        "B": {
            "Type": "Pass",
            "Assign": {"x.$": "$y", "y.$": "$x"},
            "Parameters": {"x.$": "$x"},
            "Next": "C",
        },
        "C": {"Type": "Pass", "Parameters": {"x.$": "$x", "y.$": "$y"}, "End": True},
    }
    done = run(engine, states, {})
    assert done.output == {"x": 2, "y": 1}


def test_task_assign_reads_the_raw_result_before_result_selector(engine: Engine) -> None:
    """AWS (JSONPath): in Assign, `$` is the state's result before ResultSelector and
    ResultPath are applied."""
    states = {
        "A": {
            "Type": "Task",
            "Resource": LAMBDA + "echo",
            "ResultSelector": {"only.$": "$.a"},
            "ResultPath": "$.r",
            "Assign": {"raw.$": "$"},
            "Next": "B",
        },
        "B": {"Type": "Pass", "Parameters": {"raw.$": "$raw", "out.$": "$"}, "End": True},
    }
    done = run(engine, states, {"a": 1, "b": 2})
    assert done.output == {"raw": {"a": 1, "b": 2}, "out": {"a": 1, "b": 2, "r": {"only": 1}}}


def test_catch_and_choice_rules_assign(engine: Engine) -> None:
    """AWS: "The following state types support Assign to declare and assign values to
    variables: Pass, Task, Map, Parallel, Choice, Wait." and Catchers and Choice Rules take
    Assign too; in a Catcher's Assign `$` is the error output."""
    states = {
        "A": {
            "Type": "Task",
            "Resource": LAMBDA + "boom",
            "Assign": {"never": True},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"err.$": "$.Error"}, "Next": "C"}],
            "End": True,
        },
        "C": {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$err",
                    "StringEquals": "Custom.Boom",
                    "Assign": {"path": "rule"},
                    "Next": "D",
                }
            ],
            "Default": "D",
            "Assign": {"path": "default"},
        },
        "D": {"Type": "Pass", "Parameters": {"err.$": "$err", "path.$": "$path"}, "End": True},
    }
    done = run(engine, states, {})
    assert done.output == {"err": "Custom.Boom", "path": "rule"}


def test_inner_scope_reads_outer_variables_and_keeps_its_own(engine: Engine) -> None:
    """AWS: states in a Map or Parallel "can access variables from outer scopes", and a
    variable assigned inside an iteration is not visible outside it."""
    inner = {
        "StartAt": "I",
        "States": {
            "I": {"Type": "Pass", "Assign": {"mine.$": "$"}, "Next": "J"},
            "J": {"Type": "Pass", "Parameters": {"v.$": "$mine", "o.$": "$outer"}, "End": True},
        },
    }
    states = {
        "A": {"Type": "Pass", "Assign": {"outer": "O"}, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": inner, "Next": "After"},
        "After": {"Type": "Pass", "Parameters": {"m.$": "$mine"}, "End": True},
    }
    done = run(engine, states, {"items": [1, 2]})
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime")
    assert "$mine" in (done.cause or "")
    history = engine.get_execution_history(done.arn)
    exited = [e.details for e in history if e.type == "MapStateExited"]
    assert exited and exited[0]["output"] == '[{"v":1,"o":"O"},{"v":2,"o":"O"}]'  # type: ignore[index]


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"A": {"Type": "Succeed", "Assign": {"x": 1}}}, "Assign"),
        ({"A": {"Type": "Fail", "Assign": {"x": 1}}}, "Assign"),
        ({"A": {"Type": "Pass", "Assign": {"1x": 1}, "End": True}}, "variable name"),
        ({"A": {"Type": "Pass", "Assign": {"states": 1}, "End": True}}, "reserved"),
        ({"A": {"Type": "Pass", "Assign": {"x.$": "nope"}, "End": True}}, "Assign"),
        ({"A": {"Type": "Pass", "Assign": [1], "End": True}}, "object"),
        ({"A": {"Type": "Pass", "ResultPath": "$x", "End": True}}, "ResultPath"),
    ],
)
def test_definitions_aws_rejects_fail_at_load(
    engine: Engine, states: dict[str, JsonValue], message: str
) -> None:
    """AWS validates Assign when the state machine is created: Succeed and Fail take no
    Assign, names are identifiers ("$states" is reserved), `.$` values are paths or
    intrinsics, and ResultPath cannot write a variable."""
    with pytest.raises(DefinitionError, match=message):
        engine.create_state_machine("bad", {"StartAt": "A", "States": states})


def test_inner_state_cannot_assign_an_outer_variable(engine: Engine) -> None:
    """AWS: states inside a Map or Parallel cannot assign a variable of an outer scope."""
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"x": 2}, "End": True}}}
    states = {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "M"},
        "M": {"Type": "Map", "ItemProcessor": inner, "End": True},
    }
    with pytest.raises(DefinitionError, match="outer"):
        engine.create_state_machine("bad", {"StartAt": "A", "States": states})


def test_variable_larger_than_256_kib_fails_with_data_limit_exceeded(engine: Engine) -> None:
    """AWS quotas: "Maximum size of a single variable: 256 KiB"."""
    states = {"A": {"Type": "Pass", "Assign": {"big.$": "States.Array($.t, $.t)"}, "End": True}}
    done = run(engine, states, {"t": "x" * 200_000})
    assert (done.status.value, done.error) == ("FAILED", "States.DataLimitExceeded")
    assert "'big'" in (done.cause or "")


def test_wait_map_and_parallel_assign_their_input_or_raw_result(engine: Engine) -> None:
    """AWS: "The following state types support Assign to declare and assign values to
    variables: Pass, Task, Map, Parallel, Choice, Wait." In Assign, `$` is what the state
    has at that point: for Wait its (effective) input; for Map and Parallel the raw result,
    the array of iteration or branch outputs before ResultSelector and ResultPath."""
    branches = [
        {"StartAt": name, "States": {name: {"Type": "Pass", "Result": name, "End": True}}}
        for name in ("B1", "B2")
    ]
    item = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    states = {
        "A": {"Type": "Wait", "Seconds": 0, "InputPath": "$.w", "Assign": {"waited.$": "$"},
              "Next": "M"},
        "M": {"Type": "Map", "ItemProcessor": item, "ResultPath": None,
              "ResultSelector": {"n.$": "States.ArrayLength($)"},
              "Assign": {"mapped.$": "$"}, "Next": "P"},
        "P": {"Type": "Parallel", "Branches": branches, "ResultPath": None,
              "Assign": {"branches.$": "$"}, "Next": "Out"},
        "Out": {"Type": "Pass", "Parameters": {"w.$": "$waited", "m.$": "$mapped",
                                               "p.$": "$branches"}, "End": True},
    }  # fmt: skip
    done = run(engine, states, {"w": [1, 2]})
    assert done.status.value == "SUCCEEDED", done.cause
    assert done.output == {"w": [1, 2], "m": [1, 2], "p": ["B1", "B2"]}
