"""The runbook started and followed through SSM Automation, and chaos through FIS, against
botocore's Stubber (moto does not run either): the calls in order, and the failures."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mrbatch.aws.deploy.actions import (
    ActionError,
    current_epoch,
    run_runbook,
    start_chaos,
    stop_chaos,
)
from mrbatch.aws.deploy.plan import Deployment
from mrbatch.routing.dynamodb import DynamoDBRoutingControl, create_routing_table

D = Deployment("demo", "us-east-1", "us-west-2")
X1 = "11111111-2222-3333-4444-555555555555"
X2 = "22222222-2222-3333-4444-555555555555"
CREDENTIALS = {"aws_access_key_id": "k", "aws_secret_access_key": "s"}


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-west-2", **CREDENTIALS)  # type: ignore[call-overload]


def _execution(status: str, steps: list[tuple[str, str]], failure: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {
        "AutomationExecutionStatus": status,
        "StepExecutions": [{"StepName": n, "StepStatus": s} for n, s in steps],
    }
    if failure:
        found["FailureMessage"] = failure
    return {"AutomationExecution": found}


def test_runbook_starts_with_the_epoch_read_and_follows_until_success() -> None:
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        stub.add_response(
            "start_automation_execution",
            {"AutomationExecutionId": X1},
            {
                "DocumentName": "mrbatch-demo-set-active-region",
                "Parameters": {"TargetRegion": ["us-west-2"], "ExpectedEpoch": ["4"],
                               "Reason": ["failover"]},
            },
        )  # fmt: skip
        stub.add_response("get_automation_execution",
                          _execution("InProgress", [("ActivateRegion", "Success")]),
                          {"AutomationExecutionId": X1})  # fmt: skip
        stub.add_response("get_automation_execution",
                          _execution("Success", [("ActivateRegion", "Success"),
                                                 ("Reconcile", "Success")]),
                          {"AutomationExecutionId": X1})  # fmt: skip
        said: list[str] = []
        assert (
            run_runbook(ssm, D, "us-west-2", 4, "failover", said.append, sleep=lambda _: None) == X1
        )
        stub.assert_no_pending_responses()
    assert said == [
        f"runbook {X1}: us-west-2 at epoch 4 -> 5",
        "  ActivateRegion: Success",
        "  Reconcile: Success",
    ]


def test_runbook_raises_when_its_execution_fails() -> None:
    ssm = _client("ssm")
    with Stubber(ssm) as stub:
        stub.add_response("start_automation_execution", {"AutomationExecutionId": X2})
        stub.add_response("get_automation_execution",
                          _execution("Failed", [("ActivateRegion", "Failed")],
                                     "epoch moved"))  # fmt: skip
        with pytest.raises(ActionError, match=f"{X2} did not succeed: epoch moved"):
            run_runbook(ssm, D, "us-west-2", 4, "failover", lambda _: None, sleep=lambda _: None)


def _chaos_outputs(stub: Stubber) -> None:
    stub.add_response("describe_stacks", {"Stacks": [{
        "StackName": "mrbatch-demo-chaos", "CreationTime": "2026-01-01T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "BlockS3", "OutputValue": "EXT1"},
                    {"OutputKey": "BlockDynamoDB", "OutputValue": "EXT2"}]}]},
        {"StackName": "mrbatch-demo-chaos"})  # fmt: skip


def test_chaos_starts_the_scope_template_and_stops_only_this_environment() -> None:
    cfn, fis = _client("cloudformation"), _client("fis")
    with Stubber(cfn) as cfn_stub, Stubber(fis) as fis_stub:
        _chaos_outputs(cfn_stub)
        fis_stub.add_response("start_experiment", {"experiment": {"id": "EXP1"}})
        assert start_chaos(cfn, fis, D, "dynamodb", lambda _: None) == "EXP1"
        _chaos_outputs(cfn_stub)
        fis_stub.add_response("list_experiments", {"experiments": [
            {"id": "EXP1", "experimentTemplateId": "EXT2", "state": {"status": "running"}},
            {"id": "EXP0", "experimentTemplateId": "EXT2", "state": {"status": "completed"}},
            {"id": "OTHER", "experimentTemplateId": "EXT9", "state": {"status": "running"}},
        ]})  # fmt: skip
        fis_stub.add_response("stop_experiment", {}, {"id": "EXP1"})
        assert stop_chaos(cfn, fis, D, lambda _: None) == ["EXP1"]
        fis_stub.assert_no_pending_responses()


def test_epoch_is_read_from_the_item_the_routing_control_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_routing_table(dynamodb, "mrbatch-demo-routing")
        assert current_epoch(dynamodb, D) == ("us-east-1", 1)  # no item yet: the first state
        routing = DynamoDBRoutingControl(dynamodb, "mrbatch-demo-routing", D.regions)
        routing.set_active("us-west-2", "test", expected_epoch=routing.state().epoch)
        assert current_epoch(dynamodb, D) == ("us-west-2", 2)
