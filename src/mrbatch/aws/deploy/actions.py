"""Operating a deployed environment: the runbook (SSM Automation) and chaos (AWS FIS).

Failover and failback are the same runbook with another target region: it is started with
the epoch the operator read (compare-and-set: if the epoch moved meanwhile the runbook's
first step fails) and followed until it ends; a runbook that does not succeed raises.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from mrbatch.aws.deploy.plan import Deployment
from mrbatch.aws.deploy.stacks import stack_outputs
from mrbatch.errors import MrBatchError
from mrbatch.routing.dynamodb import ROUTING
from mrbatch.state import DynamoDBTable

__all__ = ["ActionError", "current_epoch", "run_runbook", "start_chaos", "stop_chaos"]

Progress = Callable[[str], None]
_DONE = {"Success", "Failed", "Cancelled", "TimedOut", "CompletedWithFailure"}


class ActionError(MrBatchError):
    """A runbook or an experiment did not do what was asked."""


def current_epoch(dynamodb: Any, d: Deployment) -> tuple[str, int]:
    """(active region, epoch) from the routing table, strongly consistent: the item
    `DynamoDBRoutingControl` writes (read here without creating it)."""
    table = DynamoDBTable(dynamodb, ROUTING, table_name=f"mrbatch-{d.env}-routing")
    item = table.get({"control": "active"})
    if item is None:
        return d.primary, 1  # the first control to run creates it at epoch 1
    return str(item["active_region"]), int(item["epoch"])


def run_runbook(
    ssm: Any,
    d: Deployment,
    target: str,
    epoch: int,
    reason: str,
    progress: Progress,
    *,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Start the runbook towards `target` at `epoch` and follow it; its execution id."""
    execution = ssm.start_automation_execution(
        DocumentName=f"mrbatch-{d.env}-set-active-region",
        Parameters={"TargetRegion": [target], "ExpectedEpoch": [str(epoch)], "Reason": [reason]},
    )["AutomationExecutionId"]
    progress(f"runbook {execution}: {target} at epoch {epoch} -> {epoch + 1}")
    shown: dict[str, str] = {}
    while True:
        found = ssm.get_automation_execution(AutomationExecutionId=execution)["AutomationExecution"]
        for step in found.get("StepExecutions", []):
            if shown.get(step["StepName"]) != step["StepStatus"]:
                shown[step["StepName"]] = step["StepStatus"]
                progress(f"  {step['StepName']}: {step['StepStatus']}")
        if found["AutomationExecutionStatus"] in _DONE:
            break
        sleep(poll_seconds)
    if found["AutomationExecutionStatus"] != "Success":
        reason_text = found.get("FailureMessage") or found["AutomationExecutionStatus"]
        raise ActionError(f"runbook {execution} did not succeed: {reason_text}")
    return str(execution)


def start_chaos(cfn: Any, fis: Any, d: Deployment, scope: str, progress: Progress) -> str:
    """Start the region's experiment cutting its functions off `scope` (s3 or dynamodb)."""
    outputs = stack_outputs(cfn, d.stack_name("chaos"))
    key = {"s3": "BlockS3", "dynamodb": "BlockDynamoDB"}.get(scope)
    if key is None:
        raise ActionError(f"--scope {scope!r}: s3 or dynamodb")
    experiment = fis.start_experiment(
        experimentTemplateId=outputs[key], clientToken=str(uuid.uuid4())
    )["experiment"]["id"]
    progress(f"experiment {experiment}: blocking {scope}")
    return str(experiment)


def stop_chaos(cfn: Any, fis: Any, d: Deployment, progress: Progress) -> list[str]:
    """Stop every running experiment of this environment's templates in the region."""
    templates = set(stack_outputs(cfn, d.stack_name("chaos")).values())
    stopped = []
    for experiment in fis.list_experiments().get("experiments", []):
        running = experiment["state"]["status"] in {"pending", "initiating", "running"}
        if running and experiment["experimentTemplateId"] in templates:
            fis.stop_experiment(id=experiment["id"])
            stopped.append(str(experiment["id"]))
            progress(f"experiment {experiment['id']}: stopped")
    return stopped
