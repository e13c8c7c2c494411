"""SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat through a running stack's control API.

The control API speaks the Step Functions API's JSON protocol at `/control/states`, so an
AWS SDK (boto3's `stepfunctions` client, SigV4-signed with the stack's credentials) answers a
`.waitForTaskToken` task of a region's engine, and `mrbatch executions send-task-* --data-dir`
goes the same way. The callback execution runs in an engine of this test process on the
region's own workflow database (the regions run only mrbatch's definitions); the gateway
process finds the token there, as it finds the tokens of the regions' own executions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
import typer
from botocore.config import Config
from botocore.exceptions import ClientError
from stacktools import WEST, Stack
from typer.testing import CliRunner

from mrbatch.asl import Engine
from mrbatch.asl.definition import JsonValue
from mrbatch.cli import workflow_commands
from mrbatch.runtime.wiring import load_credentials, read_endpoints

pytestmark = pytest.mark.integration


class Worker:
    """Receives the task token, as a queue consumer would, and answers later."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.got = threading.Condition()

    def __call__(self, event: JsonValue) -> JsonValue:
        with self.got:
            self.tokens.append(event["token"])  # type: ignore[call-overload,index]
            self.got.notify_all()
        return {}

    def token(self, count: int) -> str:
        """The `count`-th token handed out (1-based), once there is one."""
        with self.got:
            assert self.got.wait_for(lambda: len(self.tokens) >= count, 10), "no token"
            return self.tokens[count - 1]


CALLBACK: dict[str, JsonValue] = {
    "StartAt": "Approve",
    "States": {
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "approver", "Payload": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 60,
            "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}],
            "End": True,
        },
        "No": {"Type": "Pass", "End": True},
    },
}


@pytest.fixture(scope="module")
def engine(stack: Stack) -> Iterator[tuple[Engine, Worker, str]]:
    """An engine on the west region's workflow database (not resuming the region's own
    executions), with the callback machine and its worker."""
    worker = Worker()
    with Engine(stack.config.workflows_db(WEST), resume=False, region=WEST) as eng:
        eng.resources.register_function("approver", worker, in_process=True)
        yield eng, worker, eng.create_state_machine("approval", CALLBACK)


def _sfn(stack: Stack) -> Any:
    """boto3's Step Functions client aimed at the stack's control API."""
    credentials = load_credentials(stack.config)
    return boto3.client(
        "stepfunctions",
        endpoint_url=f"{read_endpoints(stack.config)['gateway']}/control/states",
        region_name=WEST,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def _start(engine: tuple[Engine, Worker, str], order: int) -> tuple[str, str]:
    eng, worker, machine = engine
    handed_out = len(worker.tokens)
    execution = eng.start_execution(machine, {"order": order})
    return execution, worker.token(handed_out + 1)


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_send_task_success_through_the_control_api_resumes_the_task(
    stack: Stack, engine: tuple[Engine, Worker, str]
) -> None:
    """AWS SendTaskSuccess: "Used by activity workers, Task states using the callback pattern,
    and optionally Task states using the job run pattern to report that the task identified
    by the taskToken completed successfully." A second answer: TaskTimedOut."""
    execution, token = _start(engine, 1)
    sfn = _sfn(stack)
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = engine[0].wait_for(execution, 10)
    assert (done.status.value, done.output) == ("SUCCEEDED", {"approved": True})
    assert _code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"
    assert _code(lambda: sfn.send_task_heartbeat(taskToken=token)) == "TaskTimedOut"


def test_send_task_failure_through_the_control_api_reaches_the_catch(
    stack: Stack, engine: tuple[Engine, Worker, str]
) -> None:
    """AWS SendTaskFailure: "... to report that the task identified by the taskToken
    failed." The error and cause are what the task's Catch sees."""
    execution, token = _start(engine, 2)
    _sfn(stack).send_task_failure(taskToken=token, error="Rejected", cause="out of stock")
    done = engine[0].wait_for(execution, 10)
    assert done.output == {"order": 2, "why": {"Error": "Rejected", "Cause": "out of stock"}}


def test_bad_calls_are_refused_with_the_step_functions_error_names(
    stack: Stack, engine: tuple[Engine, Worker, str]
) -> None:
    """The Step Functions API reference lists SendTaskSuccess's errors: InvalidOutput ("The
    provided JSON output data is not valid"), InvalidToken ("The provided token is not
    valid"), TaskDoesNotExist and TaskTimedOut. A bad call changes nothing."""
    execution, token = _start(engine, 3)
    sfn = _sfn(stack)
    assert _code(lambda: sfn.send_task_success(taskToken=token, output="{nope")) == (
        "InvalidOutput"
    )
    assert _code(lambda: sfn.send_task_heartbeat(taskToken="not-a-token")) == "InvalidToken"
    unknown = "ab" * 32
    assert _code(lambda: sfn.send_task_failure(taskToken=unknown)) == "TaskDoesNotExist"
    assert engine[0].describe_execution(execution).status.value == "RUNNING"
    sfn.send_task_success(taskToken=token, output="[3]")
    assert engine[0].wait_for(execution, 10).output == [3]


def test_the_route_needs_a_signature_and_a_known_operation(stack: Stack) -> None:
    """Like every control route but health: no credentials, 401. An operation other than
    the three SendTask* calls is UnknownOperationException (the JSON protocol's name)."""
    url = f"{read_endpoints(stack.config)['gateway']}/control/states"
    target = {"x-amz-target": "AWSStepFunctions.SendTaskHeartbeat"}
    assert httpx.post(url, headers=target, json={"taskToken": "ab" * 32}).status_code == 401
    with pytest.raises(ClientError) as caught:
        _sfn(stack).list_state_machines()
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


def test_cli_with_data_dir_answers_through_the_running_stack(
    stack: Stack, engine: tuple[Engine, Worker, str]
) -> None:
    """`mrbatch executions send-task-success TOKEN --data-dir DIR` reaches the running
    stack's control API; its refusals carry the API's error name."""
    execution, token = _start(engine, 4)
    app = typer.Typer()
    app.callback()(lambda: None)
    workflow_commands.register(app)
    data_dir = ["--data-dir", str(stack.config.data_dir)]
    ok = CliRunner().invoke(
        app, ["executions", "send-task-success", token, "--output", '{"cli": 4}', *data_dir]
    )
    assert ok.exit_code == 0, ok.output
    assert engine[0].wait_for(execution, 10).output == {"cli": 4}
    again = CliRunner().invoke(app, ["executions", "send-task-heartbeat", token, *data_dir])
    assert again.exit_code != 0
    assert "TaskTimedOut" in str(again.exception) + again.output
