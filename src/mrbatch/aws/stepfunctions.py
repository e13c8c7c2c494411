"""Starting the main orchestrator on AWS Step Functions, idempotently.

The trigger (and reconciliation) name each execution after the file version and the
epoch (`mrbatch.handlers.naming.execution_name`). Step Functions refuses a second
execution with a name already used by the state machine (for 90 days) with
`ExecutionAlreadyExists`, except that a *running* execution with the same name and input
is returned as is. mrbatch treats both as the same answer: the same name with the same
input is the same run, already started: success, with the existing execution's ARN.
The same name with another input is a bug (two different runs under one identity) and
raises.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from mrbatch.errors import MrBatchError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["StepFunctionsStarter", "WorkflowStartError"]


class WorkflowStartError(MrBatchError):
    """An execution could not be started (refused, unreachable, or a name clash)."""


class StepFunctionsStarter:
    """A `mrbatch.handlers.trigger.StartExecution` over Step Functions' StartExecution."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def __call__(self, name: str, payload: dict[str, Any]) -> str:
        """Start `name` with `payload` (or find it); return the execution ARN."""
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=body
            )
            return str(response["executionArn"])
        except ClientError as exc:
            if _code(exc) != "ExecutionAlreadyExists":
                raise WorkflowStartError(f"cannot start {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise WorkflowStartError(f"Step Functions unreachable for {name}: {exc}") from exc
        return self._existing(name, payload)

    def _existing(self, name: str, payload: dict[str, Any]) -> str:
        arn = _execution_arn(self.state_machine_arn, name)
        try:
            described = self.client.describe_execution(executionArn=arn)
        except (ClientError, BotoCoreError) as exc:
            raise WorkflowStartError(f"cannot read execution {name}: {exc}") from exc
        if json.loads(described.get("input") or "null") != payload:
            raise WorkflowStartError(
                f"execution {name} exists with another input: one name, two runs"
            )
        return arn


def _execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:aws:states:R:A:stateMachine:M -> arn:aws:states:R:A:execution:M:name."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
