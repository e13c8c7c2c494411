"""Error names and matching as AWS Step Functions reports them (the "wrong today" list).

Each test quotes the AWS documentation sentence (or the recorded AWS history) it rests on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import Engine, ExecutionRecord, MockConfig, StatesError
from mrbatch.asl.definition import JsonValue

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
CAUGHT = {"Type": "Pass", "Result": "caught", "End": True}


def _custom_failure(event: JsonValue) -> JsonValue:
    raise StatesError("Custom.Boom", "the task said no")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        eng.resources.register_function("echo", lambda e: e, in_process=True)
        eng.resources.register_function("boom", _custom_failure, in_process=True)
        yield eng


def run(engine: Engine, states: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    arn = engine.create_state_machine("sm", {"StartAt": "A", "States": states})
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def echo(**extra: JsonValue) -> dict[str, JsonValue]:
    return {"Type": "Task", "Resource": LAMBDA + "echo", "Catch": CATCH_ALL, "End": True, **extra}


@pytest.mark.parametrize(
    "field",
    [
        {"Parameters": {"JobName.$": "$.JobName"}},
        {"ResultSelector": {"JobName.$": "$.JobName"}},
        {"InputPath": "$.JobName"},
        {"OutputPath": "$.JobName"},
    ],
)
def test_missing_path_fails_with_states_runtime_not_caught_by_states_all(
    engine: Engine, field: dict[str, JsonValue]
) -> None:
    """AWS: "A States.Runtime error isn't retriable, and will always cause the execution to
    fail. A retry or catch on States.ALL won't catch States.Runtime errors." Recorded AWS
    histories name a missing Parameters path so: "States.Runtime ... The JSONPath '$.JobName'
    specified for the field 'JobName.$' could not be found in the input"."""
    done = run(engine, {"A": echo(**field), "Caught": CAUGHT}, {"other": 1})
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime")
    assert "could not be found" in (done.cause or "")


def test_item_selector_and_items_path_failures_are_states_runtime(engine: Engine) -> None:
    """AWS: "A retry or catch on States.ALL won't catch States.Runtime errors." ItemSelector
    is a payload template like Parameters; ItemsPath is a path like InputPath."""
    body = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    selector = {"ItemsPath": "$.items", "ItemSelector": {"v.$": "$.missing"}}
    for extra in (selector, {"ItemsPath": "$.missing"}):
        state = {"Type": "Map", "ItemProcessor": body, "Catch": CATCH_ALL, "End": True}
        done = run(engine, {"A": {**state, **extra}, "Caught": CAUGHT}, {"items": [1]})
        assert (done.status.value, done.error) == ("FAILED", "States.Runtime"), extra


def test_intrinsic_failure_at_run_time_is_states_runtime(engine: Engine) -> None:
    """The issue's recorded AWS behaviour: an intrinsic function that fails at run time fails
    the execution with States.Runtime, which "A retry or catch on States.ALL won't catch"."""
    params = {"x.$": "States.ArrayGetItem($.list, 5)"}
    done = run(engine, {"A": echo(Parameters=params), "Caught": CAUGHT}, {"list": [1]})
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime")
    assert "States.ArrayGetItem" in (done.cause or "")


def test_task_failed_catches_a_custom_task_error(engine: Engine) -> None:
    """AWS: "When used in a retry or catch, States.TaskFailed acts as a wildcard that matches
    any known error name except for States.Timeout." """
    state = {
        "Type": "Task",
        "Resource": LAMBDA + "boom",
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Caught"}],
        "End": True,
    }
    done = run(engine, {"A": state, "Caught": {"Type": "Pass", "End": True}}, {"k": 1})
    assert done.status.value == "SUCCEEDED"
    assert done.output == {"k": 1, "err": {"Error": "Custom.Boom", "Cause": "the task said no"}}


def test_task_failed_retries_a_custom_error_but_not_a_timeout(engine: Engine) -> None:
    """AWS: States.TaskFailed "matches any known error name except for States.Timeout"."""
    calls: list[JsonValue] = []

    def slow(event: JsonValue) -> JsonValue:
        calls.append(event)
        raise StatesError("States.Timeout", "too slow")

    engine.resources.register_function("slow", slow, in_process=True)
    retry = [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}]
    done = run(
        engine,
        {"A": {"Type": "Task", "Resource": LAMBDA + "slow", "Retry": retry, "End": True}},
        {},
    )
    assert (done.error, len(calls)) == ("States.Timeout", 1)
    done = run(
        engine,
        {"A": {"Type": "Task", "Resource": LAMBDA + "boom", "Retry": retry, "End": True}},
        {},
    )
    attempts = [e for e in engine.get_execution_history(done.arn) if e.type.endswith("Failed")]
    assert (done.error, len(attempts)) == ("Custom.Boom", 4)  # 3 LambdaFunctionFailed + end


def test_fail_state_without_error_or_cause_reports_none(engine: Engine) -> None:
    """AWS Fail state: "Error (Optional)" and "Cause (Optional)"; an execution failed by a Fail
    state without them describes no error and no cause (the fields are absent)."""
    done = run(engine, {"A": {"Type": "Fail"}}, {})
    assert (done.status.value, done.error, done.cause) == ("FAILED", None, None)
    failed = engine.get_execution_history(done.arn)[-1]
    assert (failed.type, failed.details) == ("ExecutionFailed", {})


def test_context_object_in_input_output_and_items_path(engine: Engine) -> None:
    """AWS context object: "You can access the context object from the following fields:
    InputPath, OutputPath, ItemsPath, ..."."""
    states = {
        "A": {"Type": "Pass", "InputPath": "$$.Execution.Input", "Next": "B"},
        "B": {"Type": "Pass", "Result": 1, "OutputPath": "$$.State.Name", "Next": "C"},
        "C": {
            "Type": "Map",
            "ItemsPath": "$$.Execution.Input.list",
            "ItemSelector": {"v.$": "$$.Map.Item.Value", "src.$": "$$.Map.Item.Source"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        },
    }
    done = run(engine, states, {"list": ["x", "y"]})
    assert done.output == [{"v": "x", "src": "STATE_DATA"}, {"v": "y", "src": "STATE_DATA"}]


def test_incomplete_mock_fails_naming_state_and_invocation(tmp_path: Path) -> None:
    """Step Functions Local: "you must specify a mocked response for every invocation"; an
    invocation past the last mocked one fails the execution, naming the state and index."""
    raw = {
        "StateMachines": {"sm": {"TestCases": {"T": {"Call": "Once"}}}},
        "MockedResponses": {"Once": {"0": {"Throw": {"Error": "E", "Cause": "c"}}}},
    }
    mock = MockConfig.from_json(raw, "sm", "T")
    retry = [{"ErrorEquals": ["E"], "MaxAttempts": 3}]
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": LAMBDA + "x",
                "Retry": retry,
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    }
    with Engine(tmp_path / "wf.db", mock=mock, no_wait=True) as engine:
        arn = engine.create_state_machine("sm", definition)
        done = engine.wait_for(engine.start_execution(arn, {}), 30)
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime")
    assert "'Call'" in (done.cause or "") and "invocation 1" in (done.cause or "")
