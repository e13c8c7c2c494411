"""The callback pattern: `.waitForTaskToken`, `$$.Task.Token`, SendTask*, HeartbeatSeconds.

Each test quotes the AWS Developer Guide ("Wait for a Callback with Task Token").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mrbatch.asl import Engine, ExecutionWaitTimeoutError, MockConfig
from mrbatch.asl.callback import (
    InvalidOutputError,
    InvalidTokenError,
    TaskDoesNotExistError,
    TaskTimedOutError,
)
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.tasktokens import TaskTokens
from mrbatch.cli import workflow_commands


class Worker:
    """A Lambda-like worker that receives the token and answers later (like a queue)."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.got = threading.Event()

    def __call__(self, event: JsonValue) -> JsonValue:
        self.tokens.append(event["token"])
        self.got.set()
        return {"queued": True}  # ignored: the task waits for the token

    def token(self) -> str:
        assert self.got.wait(10), "the worker was never called"
        return self.tokens[-1]


def callback_machine(**task: JsonValue) -> dict[str, JsonValue]:
    return {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "worker",
                    "Payload": {"token.$": "$$.Task.Token", "order.$": "$.order"},
                },
                "End": True,
                **task,
            }
        },
    }


@pytest.fixture
def worker() -> Worker:
    return Worker()


@pytest.fixture
def engine(tmp_path: Path, worker: Worker) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db") as eng:
        eng.resources.register_function("worker", worker, in_process=True)
        yield eng


def test_task_waits_for_send_task_success_and_returns_its_output(
    engine: Engine, worker: Worker
) -> None:
    """AWS: "Pause a task until it receives a task token back ... the task token is passed
    with $$.Task.Token ... the workflow waits until SendTaskSuccess or SendTaskFailure is
    called with that token." The output of SendTaskSuccess is the task's result."""
    arn = engine.create_state_machine("cb", callback_machine())
    execution = engine.start_execution(arn, {"order": 7})
    token = worker.token()
    assert engine.describe_execution(execution).status.value == "RUNNING"
    engine.send_task_success(token, {"approved": True})
    done = engine.wait_for(execution, 10)
    assert (done.status.value, done.output) == ("SUCCEEDED", {"approved": True})
    with pytest.raises(TaskTimedOutError):
        engine.send_task_success(token, {"again": True})
    with pytest.raises(TaskDoesNotExistError):
        engine.send_task_heartbeat("ab" * 32)


def test_send_task_failure_fails_the_task_with_its_error(engine: Engine, worker: Worker) -> None:
    """AWS SendTaskFailure: "Used by ... task states using the callback pattern to report
    that the task identified by the taskToken failed." Catch sees the error and cause."""
    catch = [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}]
    definition = callback_machine(Catch=catch)
    definition["States"]["No"] = {"Type": "Pass", "End": True}
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 1})
    engine.send_task_failure(worker.token(), "Rejected", "out of stock")
    done = engine.wait_for(execution, 10)
    assert done.output == {"order": 1, "why": {"Error": "Rejected", "Cause": "out of stock"}}


def test_no_heartbeat_within_heartbeat_seconds_fails_with_states_timeout(
    engine: Engine, worker: Worker
) -> None:
    """AWS error names: "States.Timeout: A Task state either ran longer than the
    TimeoutSeconds value, or failed to send a heartbeat for a period longer than the
    HeartbeatSeconds value." Recorded AWS (LocalStack's AWS-validated test_heartbeats
    snapshots, a `.waitForTaskToken` task with HeartbeatSeconds 5): TaskTimedOut carries
    {"error": "States.Timeout", "resource", "resourceType"} and ExecutionFailed
    {"error": "States.Timeout"}, no cause in either. A later answer is refused."""
    definition = callback_machine(HeartbeatSeconds=1, TimeoutSeconds=30)
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 1})
    token = worker.token()
    done = engine.wait_for(execution, 10)
    assert (done.status.value, done.error, done.cause) == ("FAILED", "States.Timeout", None)
    events = {e.type: e.details for e in engine.get_execution_history(execution)}
    assert events["TaskTimedOut"] == {
        "error": "States.Timeout",
        "resource": "invoke.waitForTaskToken",
        "resourceType": "lambda",
    }
    assert events["ExecutionFailed"] == {"error": "States.Timeout"}
    with pytest.raises(TaskTimedOutError):
        engine.send_task_success(token, {})


@pytest.mark.parametrize(
    ("error_equals", "caught"),
    [
        ("States.HeartbeatTimeout", True),
        ("States.Timeout", True),
        ("States.ALL", True),
        ("States.TaskFailed", False),
    ],
)
def test_catch_on_a_heartbeat_expiry_matches_heartbeat_timeout_timeout_and_all(
    engine: Engine, worker: Worker, error_equals: str, caught: bool
) -> None:
    """AWS error names: States.HeartbeatTimeout ("A Task state failed to send a heartbeat
    for a period longer than the HeartbeatSeconds value ... only available inside the Catch
    and Retry fields"); States.Timeout covers "ran longer than the TimeoutSeconds value, or
    failed to send a heartbeat"; States.ALL "matches any known error name"; States.TaskFailed
    "matches any known error name except for States.Timeout". The caught error output is
    the error AWS reports (States.Timeout, no cause)."""
    catch = [{"ErrorEquals": [error_equals], "ResultPath": "$.why", "Next": "Caught"}]
    definition = callback_machine(HeartbeatSeconds=1, TimeoutSeconds=30, Catch=catch)
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 2})
    done = engine.wait_for(execution, 10)
    if caught:
        assert (done.status.value, done.output) == (
            "SUCCEEDED",
            {"order": 2, "why": {"Error": "States.Timeout"}},
        )
    else:
        assert (done.status.value, done.error) == ("FAILED", "States.Timeout")


def test_catch_on_heartbeat_timeout_leaves_a_timeout_seconds_expiry_to_states_timeout(
    engine: Engine, worker: Worker
) -> None:
    """AWS error names: States.HeartbeatTimeout is a task that "failed to send a heartbeat";
    a task that "ran longer than the TimeoutSeconds value" is States.Timeout only, so a
    HeartbeatTimeout catcher lets it pass to the next catcher."""
    catch = [
        {"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.beat", "Next": "Caught"},
        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.slow", "Next": "Caught"},
    ]
    definition = callback_machine(TimeoutSeconds=1, Catch=catch)
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 3})
    done = engine.wait_for(execution, 10)
    assert done.output is not None and "beat" not in done.output
    assert done.output["slow"]["Error"] == "States.Timeout"  # type: ignore[index]


def test_retry_on_heartbeat_timeout_retries_a_heartbeat_expiry(
    engine: Engine, worker: Worker
) -> None:
    """AWS error names: States.HeartbeatTimeout "is only available inside the Catch and
    Retry fields": a retrier on it runs the task again after a heartbeat expiry (the worker
    gets a second token), then the error AWS reports, States.Timeout, fails the execution."""
    retry = [{"ErrorEquals": ["States.HeartbeatTimeout"], "MaxAttempts": 1, "IntervalSeconds": 1}]
    definition = callback_machine(HeartbeatSeconds=1, TimeoutSeconds=30, Retry=retry)
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 4})
    done = engine.wait_for(execution, 15)
    assert (done.status.value, done.error) == ("FAILED", "States.Timeout")
    assert len(set(worker.tokens)) == 2


def test_cli_send_task_success_from_another_connection_resumes_the_task(
    engine: Engine, worker: Worker, tmp_path: Path
) -> None:
    """`mrbatch executions send-task-success TOKEN` answers a task of an engine running
    elsewhere on the same database (as SendTaskSuccess answers from any client)."""
    execution = engine.start_execution(
        engine.create_state_machine("cb", callback_machine()), {"order": 3}
    )
    app = typer.Typer()
    app.callback()(lambda: None)
    workflow_commands.register(app)
    args = ["executions", "send-task-success", worker.token(), "--output", '{"ok": 3}']
    result = CliRunner().invoke(app, [*args, "--db", str(tmp_path / "wf.db")])
    assert result.exit_code == 0, result.output
    done = engine.wait_for(execution, 10)
    assert done.output == {"ok": 3}


def test_mocked_callback_task_returns_the_mocked_response_without_waiting(
    tmp_path: Path,
) -> None:
    """Step Functions Local with a MockConfigFile: a `.waitForTaskToken` task gets a token
    and returns its mocked response."""
    raw = {
        "StateMachines": {"cb": {"TestCases": {"T": {"Wait": "Approved"}}}},
        "MockedResponses": {"Approved": {"0": {"Return": {"approved": "yes"}}}},
    }
    with Engine(tmp_path / "wf.db", mock=MockConfig.from_json(raw, "cb", "T")) as engine:
        arn = engine.create_state_machine("cb", callback_machine())
        done = engine.wait_for(engine.start_execution(arn, {"order": 1}), 10)
    assert (done.status.value, done.output) == ("SUCCEEDED", {"approved": "yes"})


def test_task_tokens_refuse_bad_calls_with_the_step_functions_error_names(
    engine: Engine, worker: Worker, tmp_path: Path
) -> None:
    """The Step Functions API reference, SendTaskSuccess errors: "InvalidOutput: The provided
    JSON output data is not valid", "InvalidToken: The provided token is not valid",
    TaskDoesNotExist, TaskTimedOut. `TaskTokens` (what the CLI's --db mode and the control
    API call) answers over the workflow database from outside the engine; a database that
    does not exist is skipped, not created."""
    execution = engine.start_execution(
        engine.create_state_machine("cb", callback_machine()), {"order": 5}
    )
    token = worker.token()
    missing = tmp_path / "other" / "wf.db"
    tokens = TaskTokens([missing, tmp_path / "wf.db"])
    with pytest.raises(InvalidOutputError):
        tokens.send_task_success(token, "{not json")
    with pytest.raises(InvalidTokenError):
        tokens.send_task_heartbeat("not-a-token")
    with pytest.raises(TaskDoesNotExistError):
        tokens.send_task_failure("ab" * 32, "E", "c")
    tokens.send_task_heartbeat(token)
    tokens.send_task_success(token, '{"ok": 5}')
    assert engine.wait_for(execution, 10).output == {"ok": 5}
    with pytest.raises(TaskTimedOutError) as refused:
        tokens.send_task_success(token, "{}")
    assert refused.value.code == "TaskTimedOut"
    assert not missing.exists()


def test_engine_and_task_tokens_refuse_a_malformed_token_alike(
    engine: Engine, tmp_path: Path
) -> None:
    """The Step Functions API reference, SendTaskSuccess/Failure/Heartbeat errors:
    "InvalidToken: The provided token is not valid." and "TaskDoesNotExist". A string this
    engine could not have issued is InvalidToken whoever is asked (the engine, or
    `TaskTokens` behind the CLI's --db mode and the control API); a well-formed token no
    task holds is TaskDoesNotExist for both."""
    tokens = TaskTokens([tmp_path / "wf.db"])
    engine_calls = (
        lambda token: engine.send_task_success(token, {}),
        lambda token: engine.send_task_failure(token, "E", "c"),
        engine.send_task_heartbeat,
    )
    outside_calls = (
        lambda token: tokens.send_task_success(token, "{}"),
        lambda token: tokens.send_task_failure(token, "E", "c"),
        tokens.send_task_heartbeat,
    )
    for call in (*engine_calls, *outside_calls):
        with pytest.raises(InvalidTokenError):
            call("garbage")
        with pytest.raises(InvalidTokenError):
            call("AB" * 32)  # the engine issues lower-case hex only
        with pytest.raises(TaskDoesNotExistError):
            call("ab" * 32)


def test_cli_send_task_heartbeat_and_failure_reach_the_waiting_task(
    engine: Engine, worker: Worker, tmp_path: Path
) -> None:
    """`mrbatch executions send-task-heartbeat TOKEN` restarts the task's HeartbeatSeconds
    clock and `send-task-failure TOKEN --error E --cause C` fails it into its Catch, as AWS's
    SendTaskHeartbeat ("Used by ... task states using the callback pattern ... to report to
    Step Functions that the task represented by the specified taskToken is still making
    progress") and SendTaskFailure do; a malformed token is refused with InvalidToken."""
    catch = [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}]
    definition = callback_machine(HeartbeatSeconds=2, TimeoutSeconds=60, Catch=catch)
    definition["States"]["No"] = {"Type": "Pass", "End": True}
    execution = engine.start_execution(engine.create_state_machine("cb", definition), {"order": 4})
    token = worker.token()
    app = typer.Typer()
    app.callback()(lambda: None)
    workflow_commands.register(app)
    db = ["--db", str(tmp_path / "wf.db")]
    for _ in range(3):  # 3 beats 1 s apart: 3 s in all, longer than HeartbeatSeconds
        beat = CliRunner().invoke(app, ["executions", "send-task-heartbeat", token, *db])
        assert beat.exit_code == 0, beat.output
        with pytest.raises(ExecutionWaitTimeoutError):  # still waiting a second later
            engine.wait_for(execution, 1.0)
    bad = CliRunner().invoke(app, ["executions", "send-task-heartbeat", "garbage", *db])
    assert isinstance(bad.exception, InvalidTokenError)  # the CLI's main prints it
    args = ["executions", "send-task-failure", token, "--error", "Rejected", "--cause", "no"]
    failed = CliRunner().invoke(app, [*args, *db])
    assert failed.exit_code == 0, failed.output
    done = engine.wait_for(execution, 10)
    assert done.output == {"order": 4, "why": {"Error": "Rejected", "Cause": "no"}}


def test_task_scheduled_event_records_the_heartbeat_and_the_timeout(
    engine: Engine, worker: Worker
) -> None:
    """Recorded AWS (LocalStack's AWS-validated test_heartbeats snapshots): the
    TaskScheduled event of a callback task with HeartbeatSeconds 5 and TimeoutSeconds 600
    carries "heartbeatInSeconds": 5 and "timeoutInSeconds": 600, also when the heartbeat is
    read through HeartbeatSecondsPath."""
    definition = callback_machine(HeartbeatSecondsPath="$.beat", TimeoutSeconds=600)
    arn = engine.create_state_machine("cb", definition)
    execution = engine.start_execution(arn, {"order": 1, "beat": 5})
    engine.send_task_success(worker.token(), {})
    engine.wait_for(execution, 10)
    [scheduled] = [e for e in engine.get_execution_history(execution) if e.type == "TaskScheduled"]
    assert scheduled.details is not None
    assert (scheduled.details["heartbeatInSeconds"], scheduled.details["timeoutInSeconds"]) == (
        5,
        600,
    )
