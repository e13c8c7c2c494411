"""The Task state's body: Parameters, then one memoised invocation of the resource.

The invocation's outcome (result, error, or timeout) is written to the memo before anything
depends on it, under the attempt's key; a resumed execution finds it there and does not call
the resource again. History events follow AWS: a Lambda function ARN records
LambdaFunctionScheduled/Started/Succeeded/Failed/TimedOut, a service integration
TaskScheduled/Started/Succeeded/Failed/TimedOut.
"""

from __future__ import annotations

import asyncio

from mrbatch.asl.call import BodyFailure, StateCall
from mrbatch.asl.dataflow import check_payload_size, dumps, select
from mrbatch.asl.definition import JsonValue, TaskState
from mrbatch.asl.errors import RUNTIME, TIMEOUT, StatesError
from mrbatch.asl.resources import Resource, TaskCall, parse_resource

__all__ = ["run_task"]


async def run_task(
    call: StateCall, effective: JsonValue, attempt_key: str, retry_count: int
) -> JsonValue:
    """Invoke the state's resource once (or reuse the memoised outcome)."""
    state = call.state
    assert isinstance(state, TaskState)
    run = call.run
    context = call.context(retry_count)
    params = call.template(state.parameters, effective, retry_count, attempt_key)
    check_payload_size(params, "input after Parameters", state.name)
    timeout = _timeout(state, effective)
    resource = parse_resource(state.resource)
    names = _event_names(resource)
    base = _base_details(resource)
    scheduled = dict(base, region=run.region, parameters=dumps(params))
    if resource.function is not None:
        scheduled = {"resource": state.resource, "input": dumps(params)}
    if timeout is not None:
        scheduled["timeoutInSeconds"] = timeout
    run.emit(call.frame, f"{attempt_key}:scheduled", names["Scheduled"], scheduled)
    run.emit(call.frame, f"{attempt_key}:started", names["Started"], base or None)
    memo_key = f"{attempt_key}:result"
    outcome = run.memo.get(memo_key)
    if outcome is None:
        outcome = await _invoke(call, resource, params, attempt_key, context, timeout)
        run.remember(memo_key, outcome)
    if "error" in outcome:
        err = StatesError(outcome["error"], outcome["cause"])
        kind = "TimedOut" if outcome.get("timedOut") else "Failed"
        raise BodyFailure(err, names[kind], dict(base, error=err.error, cause=err.cause))
    result = outcome["ok"]
    text = check_payload_size(result, "result", state.name)
    run.emit(call.frame, f"{attempt_key}:succeeded", names["Succeeded"], dict(base, output=text))
    return result


async def _invoke(
    call: StateCall,
    resource: Resource,
    params: JsonValue,
    attempt_key: str,
    context: JsonValue,
    timeout: int | None,
) -> dict[str, JsonValue]:
    run = call.run
    task = TaskCall(
        resource=resource.arn,
        parameters=params,
        state_name=call.state.name,
        key=attempt_key,
        execution_arn=run.arn,
        context=context,
        region=run.region,
        host=run.host,
    )
    try:
        result = await asyncio.wait_for(run.invoker.invoke(task, resource), timeout)
    except StatesError as err:
        return {"error": err.error, "cause": err.cause}
    except TimeoutError:
        return {
            "error": TIMEOUT,
            "cause": f"Task timed out after {timeout} seconds",
            "timedOut": True,
        }
    return {"ok": result}


def _timeout(state: TaskState, effective: JsonValue) -> int | None:
    if state.timeout_seconds_path is None:
        return state.timeout_seconds
    value = select(state.timeout_seconds_path, effective)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise StatesError(
            RUNTIME,
            f"TimeoutSecondsPath {state.timeout_seconds_path!r} gave "
            f"{value!r}, not a positive integer",
        )
    return value


def _event_names(resource: Resource) -> dict[str, str]:
    prefix = "LambdaFunction" if resource.function is not None else "Task"
    return {
        kind: prefix + kind for kind in ("Scheduled", "Started", "Succeeded", "Failed", "TimedOut")
    }


def _base_details(resource: Resource) -> dict[str, JsonValue]:
    if resource.function is not None:
        return {}
    return {"resourceType": resource.resource_type, "resource": resource.resource_name}
