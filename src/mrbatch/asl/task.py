"""The Task state's body: Parameters, then one memoised invocation of the resource.

The invocation's outcome (result, error, or timeout) is written to the memo before anything
depends on it, under the attempt's key; a resumed execution finds it there and does not call
the resource again. History events follow AWS: a Lambda function ARN records
LambdaFunctionScheduled/Started/Succeeded/Failed/TimedOut, a service integration
TaskScheduled/Started/Succeeded/Failed/TimedOut.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from mrbatch.asl.call import BodyFailure, StateCall
from mrbatch.asl.callback import new_token
from mrbatch.asl.dataflow import check_payload_size, dumps
from mrbatch.asl.definition import JsonValue, TaskState
from mrbatch.asl.errors import QUERY_EVALUATION_ERROR, RUNTIME, TIMEOUT, StatesError
from mrbatch.asl.resources import Resource, TaskCall, parse_resource

__all__ = ["run_task"]


async def run_task(
    call: StateCall, effective: JsonValue, attempt_key: str, retry_count: int
) -> JsonValue:
    """Invoke the state's resource once (or reuse the memoised outcome)."""
    state = call.state
    assert isinstance(state, TaskState)
    run = call.run
    resource = parse_resource(state.resource)
    token = new_token(run.arn, attempt_key) if resource.wait_for_token else None
    # AWS: `$$.Task.Token` exists for callback tasks (Parameters carry it to the worker)
    context = call.context(retry_count, **({"Task": {"Token": token}} if token else {}))
    params = call.template(state.parameters, effective, retry_count, attempt_key, context)
    check_payload_size(params, "input after Parameters", state.name)
    timeout = _timeout(call, effective, retry_count)
    # evaluated for every task (a JSONata expression can fail), used by callback tasks
    heartbeat = _heartbeat(call, effective, retry_count)
    _check_heartbeat(state, timeout, heartbeat)
    names = _event_names(resource)
    base = _base_details(resource)
    scheduled = dict(base, region=run.region, parameters=dumps(params))
    if resource.function is not None:
        scheduled = {"resource": state.resource, "input": dumps(params)}
    if timeout is not None:
        scheduled["timeoutInSeconds"] = timeout
    if heartbeat is not None and resource.function is None:
        # recorded AWS: TaskScheduled carries it (LambdaFunctionScheduled has no such field)
        scheduled["heartbeatInSeconds"] = heartbeat
    run.emit(call.frame, f"{attempt_key}:scheduled", names["Scheduled"], scheduled)
    run.emit(call.frame, f"{attempt_key}:started", names["Started"], base or None)
    memo_key = f"{attempt_key}:result"
    outcome = run.memo.get(memo_key)
    if outcome is None:
        task = _task_call(call, resource, params, attempt_key, context)
        if token is None:
            outcome = await _bounded(run.invoker.invoke(task, resource), timeout)
        else:
            outcome = await _bounded(_callback(call, task, resource, token, heartbeat), timeout)
            run.callbacks.cancel(token, outcome)  # later SendTask* calls: TaskTimedOut
        run.remember(memo_key, outcome)
    if "error" in outcome:
        err = _outcome_error(outcome)
        kind = "TimedOut" if outcome.get("timedOut") else "Failed"
        fields = (("error", err.error), ("cause", err.cause))
        # a field AWS records no value for is absent (a heartbeat expiry has no cause)
        details = dict(base, **{k: v for k, v in fields if v is not None})
        raise BodyFailure(err, names[kind], details)
    result = outcome["ok"]
    text = check_payload_size(result, "result", state.name)
    run.emit(call.frame, f"{attempt_key}:succeeded", names["Succeeded"], dict(base, output=text))
    return result


def _task_call(
    call: StateCall, resource: Resource, params: JsonValue, attempt_key: str, context: JsonValue
) -> TaskCall:
    run = call.run
    return TaskCall(
        resource=resource.arn,
        parameters=params,
        state_name=call.state.name,
        key=attempt_key,
        execution_arn=run.arn,
        context=context,
        region=run.region,
        host=run.host,
    )


async def _callback(
    call: StateCall, task: TaskCall, resource: Resource, token: str, heartbeat: int | None
) -> JsonValue:
    """Send the task's message, then wait for SendTaskSuccess/Failure with its token. Under
    a MockConfigFile the mocked response is the result at once, as Step Functions Local
    does. The send is memoised, so a resumed execution waits without sending again."""
    run = call.run
    mocked = run.invoker.mocked(task)
    if mocked is not None:
        return mocked
    sent_key = f"{task.key}:sent"
    if sent_key not in run.memo:
        run.callbacks.register(token, run.arn, task.key)
        await run.invoker.call_resource(task, resource)
        run.remember(sent_key, True)
    outcome = await run.callbacks.wait(token, heartbeat)
    if "error" in outcome:
        raise _CallbackFailure(outcome)
    return outcome["ok"]


def _outcome_error(outcome: dict[str, JsonValue]) -> StatesError:
    """The error of a failed outcome as `_bounded` or the callback store recorded it."""
    also = tuple(outcome.get("alsoMatches", ()))
    return StatesError(outcome["error"], outcome.get("cause"), also_matches=also)


class _CallbackFailure(StatesError):
    """Internal: SendTaskFailure or a heartbeat timeout, with the outcome as recorded."""

    def __init__(self, outcome: dict[str, JsonValue]) -> None:
        err = _outcome_error(outcome)
        super().__init__(err.error, err.cause, also_matches=err.also_matches)
        self.outcome = outcome


async def _bounded(work: Awaitable[JsonValue], timeout: int | None) -> dict[str, JsonValue]:
    """The outcome of `work` within TimeoutSeconds: {"ok"}, or {"error", "cause"}."""
    try:
        result = await asyncio.wait_for(work, timeout)
    except _CallbackFailure as failure:
        return failure.outcome
    except StatesError as err:
        return {"error": err.error, "cause": err.cause}
    except TimeoutError:
        return {
            "error": TIMEOUT,
            "cause": f"Task timed out after {timeout} seconds",
            "timedOut": True,
        }
    return {"ok": result}


def _heartbeat(call: StateCall, effective: JsonValue, retry_count: int) -> int | None:
    state = call.state
    assert isinstance(state, TaskState)
    if state.heartbeat_seconds_path is None:
        value = state.expressions.get("HeartbeatSeconds", state.heartbeat_seconds)
        return call.number("HeartbeatSeconds", value, retry_count)  # type: ignore[no-any-return]
    path = state.heartbeat_seconds_path
    return int(call.path_number("HeartbeatSecondsPath", path, effective, retry_count))


def _timeout(call: StateCall, effective: JsonValue, retry_count: int) -> int | None:
    state = call.state
    assert isinstance(state, TaskState)
    if state.timeout_seconds_path is None:
        value = state.expressions.get("TimeoutSeconds", state.timeout_seconds)
        return call.number("TimeoutSeconds", value, retry_count)  # type: ignore[no-any-return]
    path = state.timeout_seconds_path
    return int(call.path_number("TimeoutSecondsPath", path, effective, retry_count))


def _check_heartbeat(state: TaskState, timeout: int | None, heartbeat: int | None) -> None:
    """AWS (Task state): HeartbeatSeconds "must be less than the number of seconds specified
    in the TimeoutSeconds field". The loader checks two literals; a value computed at run time
    is checked here. AWS's error for this case is not recorded: a JSONata state fails with
    States.QueryEvaluationError, as for any computed number out of its range (`numbers`), a
    JSONPath state with States.Runtime, as for any bad `…Path` value."""
    if timeout is None or heartbeat is None or heartbeat < timeout:
        return
    raise StatesError(
        QUERY_EVALUATION_ERROR if state.jsonata else RUNTIME,
        f"HeartbeatSeconds ({heartbeat}) must be smaller than TimeoutSeconds ({timeout}).",
    )


def _event_names(resource: Resource) -> dict[str, str]:
    prefix = "LambdaFunction" if resource.function is not None else "Task"
    return {
        kind: prefix + kind for kind in ("Scheduled", "Started", "Succeeded", "Failed", "TimedOut")
    }


def _base_details(resource: Resource) -> dict[str, JsonValue]:
    if resource.function is not None:
        return {}
    return {"resourceType": resource.resource_type, "resource": resource.resource_name}
