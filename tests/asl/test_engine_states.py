"""Conformance of the states and the data flow (JSONPath mode) with exact outputs."""

from __future__ import annotations

import pytest

from mrbatch.asl import DefinitionError, Engine, ExecutionRecord
from mrbatch.asl.definition import JsonValue


@pytest.fixture
def engine(tmp_path):  # type: ignore[no-untyped-def]
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        eng.resources.register_function("echo", lambda e: e, in_process=True)
        yield eng


def run(
    engine: Engine,
    states: dict[str, JsonValue],
    data: JsonValue,
    start: str = "A",
    **top: JsonValue,
) -> ExecutionRecord:
    arn = engine.create_state_machine("sm", {"StartAt": start, "States": states, **top})
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def test_pass_data_flow_input_parameters_result_output(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Pass",
                "InputPath": "$.in",
                "Parameters": {"x.$": "$.v", "k": 1, "n.$": "$$.State.Name"},
                "ResultPath": "$.res",
                "OutputPath": "$.res",
                "End": True,
            }
        },
        {"in": {"v": 7}},
    )
    assert done.output == {"x": 7, "k": 1, "n": "A"}


def test_result_path_null_keeps_input_and_result_overrides(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": None, "Next": "B"},
            "B": {"Type": "Pass", "Result": {"r": 2}, "ResultPath": "$.deep.r", "End": True},
        },
        {"keep": True},
    )
    assert done.output == {"keep": True, "deep": {"r": {"r": 2}}}


def test_context_object_execution_fields(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$$.Execution.Id",
                    "in.$": "$$.Execution.Input",
                    "sm.$": "$$.StateMachine.Name",
                    "retry.$": "$$.State.RetryCount",
                },
                "End": True,
            }
        },
        {"q": 1},
    )
    assert done.output["id"] == done.arn
    assert done.output["in"] == {"q": 1}
    assert (done.output["sm"], done.output["retry"]) == ("sm", 0)


def test_choice_routes_and_default(engine: Engine) -> None:
    states = {
        "A": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThan": 5},
                        {"Variable": "$.s", "StringMatches": "a*"},
                    ],
                    "Next": "Big",
                }
            ],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "End": True},
    }
    assert run(engine, states, {"n": 9, "s": "abc"}).output == "big"
    assert run(engine, states, {"n": 9, "s": "xbc"}).output == "small"


def test_choice_without_match_fails_no_choice_matched(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "B"}],
            },
            "B": {"Type": "Succeed"},
        },
        {"n": 2},
    )
    assert (done.status.value, done.error) == ("FAILED", "States.NoChoiceMatched")


def test_fail_state_error_and_cause_paths(engine: Engine) -> None:
    done = run(
        engine,
        {"A": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('bad {}', $.n)"}},
        {"e": "Oops", "n": 3},
    )
    assert (done.status.value, done.error, done.cause) == ("FAILED", "Oops", "bad 3")


def test_wait_records_events_and_succeed_applies_paths(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {"Type": "Wait", "SecondsPath": "$.s", "Next": "B"},
            "B": {"Type": "Succeed", "OutputPath": "$.s"},
        },
        {"s": 3600},
    )
    assert done.output == 3600
    types = [e.type for e in engine.get_execution_history(done.arn)]
    assert types == [
        "ExecutionStarted",
        "WaitStateEntered",
        "WaitStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


def test_intrinsics_in_parameters(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Pass",
                "Parameters": {
                    "f.$": "States.Format('{}-{}', $.a, $.b)",
                    "len.$": "States.ArrayLength($.l)",
                },
                "End": True,
            }
        },
        {"a": "x", "b": 2, "l": [1, 2, 3]},
    )
    assert done.output == {"f": "x-2", "len": 3}


def test_payload_over_256_kib_fails_data_limit_exceeded(engine: Engine) -> None:
    done = run(
        engine,
        {"A": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}},
        {"s": "x" * 200_000},
    )
    assert (done.status.value, done.error) == ("FAILED", "States.DataLimitExceeded")
    assert "output of state 'A'" in (done.cause or "")


def test_execution_timeout_times_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Engine(tmp_path / "wf.db") as eng:
        done = run(eng, {"A": {"Type": "Wait", "Seconds": 30, "End": True}}, {}, TimeoutSeconds=1)
    assert (done.status.value, done.error) == ("TIMED_OUT", "States.Timeout")


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"A": {"Type": "Pass", "End": True, "Next": "A"}}, "End and Next cannot both be set"),
        ({"A": {"Type": "Pass"}}, "needs either Next"),
        ({"A": {"Type": "Pass", "Next": "Nope"}}, "Next 'Nope' names no state"),
        ({"A": {"Type": "Pass", "End": True}, "B": {"Type": "Succeed"}}, "unreachable"),
        ({"A": {"Type": "Pass", "End": True, "Colour": 1}}, "does not allow field(s) Colour"),
        ({"A": {"Type": "Succeed", "Next": "A"}}, "does not allow field(s) Next"),
        ({"A": {"Type": "Pass", "InputPath": "$..[", "End": True}}, "InputPath"),
        (
            {"A": {"Type": "Pass", "Parameters": {"x.$": "States.Nope()"}, "End": True}},
            "unknown intrinsic",
        ),
        (
            {
                "A": {
                    "Type": "Task",
                    "Resource": "r",
                    "End": True,
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "Next": "A"},
                        {"ErrorEquals": ["X"], "Next": "A"},
                    ],
                }
            },
            "States.ALL must appear alone",
        ),
    ],
)
def test_invalid_definitions_name_the_state(
    engine: Engine, states: dict[str, JsonValue], message: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        engine.create_state_machine("bad", {"StartAt": "A", "States": states})
    assert message in str(info.value)
    assert "state 'A'" in str(info.value) or "state 'B'" in str(info.value)


def test_missing_start_at_is_rejected(engine: Engine) -> None:
    with pytest.raises(DefinitionError, match="StartAt"):
        engine.create_state_machine("bad", {"States": {"A": {"Type": "Succeed"}}})


def test_placeholders_are_substituted_at_load(engine: Engine) -> None:
    arn = engine.create_state_machine(
        "sub",
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${EchoArn}", "End": True}}},
        substitutions={"EchoArn": "arn:aws:lambda:us-east-1:123456789012:function:echo"},
    )
    done = engine.wait_for(engine.start_execution(arn, {"v": 1}), timeout=30)
    assert done.output == {"v": 1}
