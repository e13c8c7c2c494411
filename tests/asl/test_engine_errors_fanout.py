"""Retry, Catch, task timeouts, Map and Parallel: exact outputs and recorded histories."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from mrbatch.asl import Engine, ExecutionRecord, StatesError
from mrbatch.asl.definition import JsonValue

sys.path.insert(0, str(Path(__file__).parent))
import asl_tasks

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


class Flaky:
    """Fails with `error` the first `failures` calls, then echoes the event."""

    def __init__(self, failures: int, error: str = "Flaky.Error") -> None:
        self.failures, self.error, self.calls = failures, error, 0
        self._lock = threading.Lock()

    def __call__(self, event: JsonValue) -> JsonValue:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise StatesError(self.error, f"attempt {self.calls}")
        return event


@pytest.fixture
def engine(tmp_path):  # type: ignore[no-untyped-def]
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        yield eng


def run(engine: Engine, states: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    arn = engine.create_state_machine("sm", {"StartAt": "A", "States": states})
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def task(fn: str, **extra: JsonValue) -> dict[str, JsonValue]:
    return {"Type": "Task", "Resource": LAMBDA + fn, **extra}


def test_retry_backoff_intervals_are_recorded_then_succeeds(engine: Engine) -> None:
    flaky = Flaky(3)
    engine.resources.register_function("flaky", flaky, in_process=True)
    done = run(
        engine,
        {
            "A": task(
                "flaky",
                End=True,
                Retry=[
                    {
                        "ErrorEquals": ["Flaky.Error"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 3,
                        "BackoffRate": 3.0,
                        "MaxDelaySeconds": 10,
                    }
                ],
            )
        },
        {"v": 1},
    )
    assert (done.status.value, done.output, flaky.calls) == ("SUCCEEDED", {"v": 1}, 4)
    failed = [
        e.details
        for e in engine.get_execution_history(done.arn)
        if e.type == "LambdaFunctionFailed"
    ]
    assert [f["retry"] for f in failed] == [  # type: ignore[index]
        {"retryCount": 1, "delaySeconds": 2.0},
        {"retryCount": 2, "delaySeconds": 6.0},
        {"retryCount": 3, "delaySeconds": 10.0},
    ]


def test_retry_exhausted_goes_to_catch_with_error_output(engine: Engine) -> None:
    flaky = Flaky(10)
    engine.resources.register_function("flaky", flaky, in_process=True)
    done = run(
        engine,
        {
            "A": task(
                "flaky",
                Next="Done",
                Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                Catch=[{"ErrorEquals": ["Flaky.Error"], "ResultPath": "$.err", "Next": "C"}],
            ),
            "C": {"Type": "Pass", "End": True},
            "Done": {"Type": "Succeed"},
        },
        {"v": 1},
    )
    assert flaky.calls == 3
    assert done.output == {"v": 1, "err": {"Error": "Flaky.Error", "Cause": "attempt 3"}}


def test_python_exception_maps_to_lambda_style_error_on_worker_process(engine: Engine) -> None:
    engine.resources.register_function("boom", asl_tasks.boom)
    done = run(engine, {"A": task("boom", End=True)}, {"x": 1})
    assert done.error == "ValueError"
    cause = json.loads(done.cause or "")
    assert (cause["errorType"], cause["errorMessage"]) == ("ValueError", "bad event {'x': 1}")


def test_lambda_invoke_result_shape(engine: Engine) -> None:
    engine.resources.register_function("echo", lambda e: e, in_process=True)
    done = run(
        engine,
        {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": LAMBDA + "echo:prod", "Payload": {"k.$": "$.v"}},
                "End": True,
            }
        },
        {"v": 5},
    )
    out = done.output
    assert (out["Payload"], out["StatusCode"], out["ExecutedVersion"]) == ({"k": 5}, 200, "$LATEST")
    assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert out["SdkResponseMetadata"]["RequestId"]


def test_task_timeout_is_states_timeout_and_catchable(engine: Engine, tmp_path: Path) -> None:
    engine.resources.register_function("slow", asl_tasks.record)
    done = run(
        engine,
        {
            "A": task(
                "slow",
                TimeoutSeconds=1,
                Next="B",
                Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "B"}],
            ),
            "B": {"Type": "Pass", "End": True},
        },
        {"log": str(tmp_path / "log"), "item": 1, "work": 2.5},
    )
    assert done.output == {"Error": "States.Timeout", "Cause": "Task timed out after 1 seconds"}
    types = [e.type for e in engine.get_execution_history(done.arn)]
    assert "LambdaFunctionTimedOut" in types


def test_states_all_does_not_catch_data_limit_exceeded(engine: Engine) -> None:
    engine.resources.register_function("big", lambda e: "x" * 300_000, in_process=True)
    done = run(
        engine,
        {
            "A": task("big", Next="B", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "B"}]),
            "B": {"Type": "Succeed"},
        },
        {},
    )
    assert (done.status.value, done.error) == ("FAILED", "States.DataLimitExceeded")


def test_map_item_selector_context_and_concurrency(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "MaxConcurrency": 2,
                "ItemSelector": {
                    "i.$": "$$.Map.Item.Index",
                    "v.$": "$$.Map.Item.Value",
                    "k.$": "$.k",
                },
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "ResultPath": "$.out",
                "End": True,
            }
        },
        {"xs": ["a", "b", "c"], "k": 0},
    )
    assert done.output["out"] == [
        {"i": 0, "v": "a", "k": 0},
        {"i": 1, "v": "b", "k": 0},
        {"i": 2, "v": "c", "k": 0},
    ]
    types = [e.type for e in engine.get_execution_history(done.arn)]
    assert types.count("MapIterationStarted") == 3 and types.count("MapIterationSucceeded") == 3
    assert types[1:3] == ["MapStateEntered", "MapStateStarted"]
    assert types[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]


ITEM_FAILS = {
    "StartAt": "C",
    "States": {
        "C": {
            "Type": "Choice",
            "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "F"}],
            "Default": "OK",
        },
        "F": {"Type": "Fail", "Error": "Item.Bad", "Cause": "too big"},
        "OK": {"Type": "Pass", "End": True},
    },
}


def test_map_failure_propagates_iteration_error(engine: Engine) -> None:
    done = run(
        engine, {"A": {"Type": "Map", "ItemProcessor": ITEM_FAILS, "End": True}}, [1, 2, 3, 4]
    )
    assert (done.status.value, done.error, done.cause) == ("FAILED", "Item.Bad", "too big")
    types = [e.type for e in engine.get_execution_history(done.arn)]
    assert "MapIterationFailed" in types and "MapStateFailed" in types


def test_map_tolerated_failures_within_and_beyond_threshold(engine: Engine) -> None:
    within = run(
        engine,
        {
            "A": {
                "Type": "Map",
                "ItemProcessor": ITEM_FAILS,
                "ToleratedFailureCount": 2,
                "End": True,
            }
        },
        [1, 2, 3, 4],
    )
    assert within.output == [
        1,
        2,
        {"Error": "Item.Bad", "Cause": "too big"},
        {"Error": "Item.Bad", "Cause": "too big"},
    ]
    beyond = run(
        engine,
        {
            "A": {
                "Type": "Map",
                "ItemProcessor": ITEM_FAILS,
                "ToleratedFailurePercentage": 25,
                "End": True,
            }
        },
        [1, 2, 3, 4],
    )
    assert beyond.error == "States.ExceedToleratedFailureThreshold"


def test_parallel_outputs_in_branch_order(engine: Engine) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "X", "States": {"X": {"Type": "Pass", "Result": "x", "End": True}}},
                    {
                        "StartAt": "Y",
                        "States": {"Y": {"Type": "Pass", "InputPath": "$.v", "End": True}},
                    },
                ],
                "ResultSelector": {"first.$": "$[0]", "second.$": "$[1]"},
                "End": True,
            }
        },
        {"v": 2},
    )
    assert done.output == {"first": "x", "second": 2}


def test_parallel_branch_failure_fails_state_with_branch_error_and_is_catchable(
    engine: Engine,
) -> None:
    done = run(
        engine,
        {
            "A": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}},
                    {
                        "StartAt": "F",
                        "States": {"F": {"Type": "Fail", "Error": "B.Err", "Cause": "c"}},
                    },
                ],
                "Catch": [{"ErrorEquals": ["B.Err"], "Next": "Z"}],
                "End": True,
            },
            "Z": {"Type": "Pass", "End": True},
        },
        {},
    )
    assert done.output == {"Error": "B.Err", "Cause": "c"}
    types = [e.type for e in engine.get_execution_history(done.arn)]
    assert (
        types[:4]
        == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted", "WaitStateEntered"]
        or "ParallelStateFailed" in types
    )
    assert "ParallelStateFailed" in types


def test_map_over_an_empty_array_succeeds_with_an_empty_result(engine: Engine) -> None:
    done = run(engine, {"A": {
        "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.out", "End": True,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    }}, {"items": []})  # fmt: skip
    assert (done.status, done.output) == ("SUCCEEDED", {"items": [], "out": []})
