"""The Engine API: names, stop, list, nested executions, mocks and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mrbatch.asl import Engine, ExecutionAlreadyExistsError, ExecutionStatus, MockConfig
from mrbatch.cli import workflow_commands

WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_same_name_same_input_returns_existing_other_input_fails(tmp_path: Path) -> None:
    with Engine(tmp_path / "wf.db") as engine:
        arn = engine.create_state_machine("p", PASS)
        first = engine.start_execution(arn, {"a": 1}, name="n")
        assert engine.start_execution(arn, {"a": 1}, name="n") == first
        with pytest.raises(ExecutionAlreadyExistsError):
            engine.start_execution(arn, {"a": 2}, name="n")


def test_stop_aborts_and_lists_by_status(tmp_path: Path) -> None:
    with Engine(tmp_path / "wf.db") as engine:
        arn = engine.create_state_machine("w", WAIT)
        ex = engine.start_execution(arn, {}, name="long")
        assert [r.name for r in engine.list_executions(arn, "RUNNING")] == ["long"]
        stopped = engine.stop_execution(ex, error="Op.Stop", cause="by test")
        assert (stopped.status, stopped.error, stopped.cause) == (
            ExecutionStatus.ABORTED,
            "Op.Stop",
            "by test",
        )
        assert engine.get_execution_history(ex)[-1].type == "ExecutionAborted"
        assert engine.list_executions(arn, "RUNNING") == []


def test_nested_start_execution_sync2_and_child_failure(tmp_path: Path) -> None:
    with Engine(tmp_path / "wf.db") as engine:
        child = engine.create_state_machine(
            "child",
            {
                "StartAt": "C",
                "States": {
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Y"}],
                        "Default": "N",
                    },
                    "Y": {"Type": "Pass", "Result": {"done": True}, "End": True},
                    "N": {"Type": "Fail", "Error": "Child.Bad", "Cause": "no"},
                },
            },
        )
        parent = engine.create_state_machine(
            "parent",
            {
                "StartAt": "S",
                "States": {
                    "S": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {"StateMachineArn": child, "Input": {"ok.$": "$.ok"}},
                        "OutputPath": "$.Output",
                        "End": True,
                    }
                },
            },
        )
        good = engine.wait_for(engine.start_execution(parent, {"ok": True}), 30)
        assert good.output == {"done": True}
        bad = engine.wait_for(engine.start_execution(parent, {"ok": False}), 30)
        assert bad.error == "States.TaskFailed"
        described = json.loads(bad.cause or "")
        assert (described["Status"], described["Error"], described["Cause"]) == (
            "FAILED",
            "Child.Bad",
            "no",
        )
        assert len(engine.list_executions(child)) == 2


MOCK = {
    "StateMachines": {"demo": {"TestCases": {"Retry": {"T": "FailTwice"}}}},
    "MockedResponses": {
        "FailTwice": {
            "0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow"}},
            "2": {"Return": {"StatusCode": 200, "Payload": {"n": 1}}},
        }
    },
}
DEMO = {
    "StartAt": "T",
    "States": {
        "T": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "handler", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 1}],
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}


def test_mock_config_throw_then_return(tmp_path: Path) -> None:
    mock = MockConfig.from_json(MOCK, "demo", "Retry")
    with Engine(tmp_path / "wf.db", mock=mock, no_wait=True) as engine:
        arn = engine.create_state_machine("demo", DEMO)
        done = engine.wait_for(engine.start_execution(arn, {}), 30)
    assert (done.error, done.cause) == ("Lambda.TooManyRequestsException", "slow")


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    workflow_commands.register(app)
    return app


def test_cli_workflow_run_with_mock_prints_one_json_object(tmp_path: Path) -> None:
    definition, mock = tmp_path / "demo.asl.json", tmp_path / "mock.json"
    demo = json.loads(json.dumps(DEMO))
    demo["States"]["T"]["Retry"][0]["MaxAttempts"] = 2
    definition.write_text(json.dumps(demo))
    mock.write_text(json.dumps(MOCK))
    db = tmp_path / "wf.db"
    result = CliRunner().invoke(
        _cli(),
        [
            "workflow",
            "run",
            str(definition),
            "--input",
            "{}",
            "--mock-config",
            str(mock),
            "--test-case",
            "Retry",
            "--no-wait",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"status": "SUCCEEDED", "output": {"n": 1}}
    listed = CliRunner().invoke(_cli(), ["executions", "list", "--db", str(db)])
    arn = json.loads(listed.output.splitlines()[0])["executionArn"]
    history = CliRunner().invoke(_cli(), ["executions", "history", arn, "--db", str(db)])
    types = [json.loads(line)["type"] for line in history.output.splitlines()]
    assert types.count("TaskFailed") == 2 and types[-1] == "ExecutionSucceeded"
