"""The `states:startExecution` integrations: nested executions in the same engine.

- `startExecution`: start the child and return `{"ExecutionArn", "StartDate"}` at once.
- `startExecution.sync`: wait for the child; the result is DescribeExecution's shape with
  `Output` as a JSON string; `.sync:2` gives `Output` as parsed JSON.
- A child that does not succeed fails the task with States.TaskFailed, the cause being the
  child's DescribeExecution (with its `Error` and `Cause`) as a JSON string, as AWS does.

Without a `Name` parameter the child's name is derived from the task's deterministic key, so
a resumed parent finds its child again instead of starting a second one.
"""

from __future__ import annotations

import json
import uuid

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import RUNTIME, TASK_FAILED, StatesError
from mrbatch.asl.resources import Integration, TaskCall
from mrbatch.asl.store import ExecutionRecord, ExecutionStatus

__all__ = ["nested_integrations"]


def nested_integrations() -> dict[str, Integration]:
    """The built-in integration handlers by key."""
    return {
        "states:startExecution": _start,
        "states:startExecution.sync": _sync_v1,
        "states:startExecution.sync:2": _sync_v2,
    }


async def _launch(call: TaskCall) -> ExecutionRecord:
    params = call.parameters if isinstance(call.parameters, dict) else {}
    machine = params.get("StateMachineArn")
    if not isinstance(machine, str):
        raise StatesError(RUNTIME, "startExecution needs a StateMachineArn string")
    name = params.get("Name")
    if not isinstance(name, str):
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, call.execution_arn + call.key))
    child_input = params.get("Input", {})
    if isinstance(child_input, str):
        try:
            child_input = json.loads(child_input)
        except json.JSONDecodeError as exc:
            raise StatesError(RUNTIME, f"startExecution Input is not JSON: {exc}") from None
    return await call.host.start_child(machine, name, child_input)


async def _start(call: TaskCall) -> JsonValue:
    record = await _launch(call)
    return {"ExecutionArn": record.arn, "StartDate": int(record.start_date * 1000)}


def _describe(record: ExecutionRecord, output_as_json: bool) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {
        "ExecutionArn": record.arn,
        "Input": record.input if output_as_json else json.dumps(record.input),
        "InputDetails": {"Included": True},
        "Name": record.name,
        "StartDate": int(record.start_date * 1000),
        "StateMachineArn": record.state_machine_arn,
        "Status": record.status.value,
        "StopDate": int((record.stop_date or record.start_date) * 1000),
    }
    if record.status is ExecutionStatus.SUCCEEDED:
        out["Output"] = record.output if output_as_json else json.dumps(record.output)
        out["OutputDetails"] = {"Included": True}
    else:
        out["Error"] = record.error
        out["Cause"] = record.cause
    return out


async def _sync(call: TaskCall, output_as_json: bool) -> JsonValue:
    started = await _launch(call)
    record = await call.host.wait_child(started.arn)
    described = _describe(record, output_as_json)
    if record.status is not ExecutionStatus.SUCCEEDED:
        raise StatesError(TASK_FAILED, json.dumps(described))
    return described


async def _sync_v1(call: TaskCall) -> JsonValue:
    return await _sync(call, output_as_json=False)


async def _sync_v2(call: TaskCall) -> JsonValue:
    return await _sync(call, output_as_json=True)
