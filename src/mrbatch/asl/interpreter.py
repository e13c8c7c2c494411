"""The interpreter: one fixed life cycle for every state, and the bodies of the simple states.

Every state runs the same steps, written once in `run_state`: count the visit, check the
input size, emit `<Type>StateEntered`, run the body, check the output size, emit
`<Type>StateExited`, return the next state. Task, Parallel and Map add the error-handling
steps in `_handled`: InputPath, the body, ResultSelector, ResultPath, OutputPath, with Retry
and Catch around them. Bodies only compute; they never decide where to go next (except
Choice) and never touch the history directly except for their own body events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC

from mrbatch.asl import dataflow, query
from mrbatch.asl.call import BodyFailure, Outcome, StateCall
from mrbatch.asl.dataflow import check_payload_size, select
from mrbatch.asl.definition import (
    UNSET,
    ChoiceState,
    FailState,
    JsonValue,
    MapState,
    ParallelState,
    PassState,
    Program,
    State,
    TaskState,
    WaitState,
)
from mrbatch.asl.distributed import run_distributed_map
from mrbatch.asl.errors import NO_CHOICE_MATCHED, QUERY_EVALUATION_ERROR, RUNTIME, StatesError
from mrbatch.asl.fanout import run_map, run_parallel
from mrbatch.asl.intrinsics import evaluate
from mrbatch.asl.paths import apply_result_path
from mrbatch.asl.retry import RetryState, find_catcher
from mrbatch.asl.run import Frame, Run
from mrbatch.asl.task import run_task

__all__ = ["run_program"]


async def run_program(run: Run, program: Program, data: JsonValue, frame: Frame) -> JsonValue:
    """Run states from StartAt until one ends the frame; return the frame's output."""
    name: str | None = program.start_at
    while name is not None:
        name, data = await run_state(run, program.states[name], data, frame)
        await asyncio.sleep(0)  # let stop requests and other executions in between states
    return data


async def run_state(run: Run, state: State, data: JsonValue, frame: Frame) -> Outcome:
    """The life cycle every state shares."""
    visit = frame.visit(state.name)
    key = f"{frame.path}/{state.name}#{visit}"
    text = dataflow.dumps(data)
    entered = run.emit(
        frame, f"{key}:in", f"{state.type}StateEntered", {"name": state.name, "input": text}
    )
    check_payload_size(data, "input", state.name)
    call = StateCall(run, state, frame, key, entered, run_program)
    call.input = data
    outcome = await _BODIES[state.type](call, data)
    out_text = check_payload_size(outcome.output, "output", state.name)
    run.emit(
        frame, f"{key}:out", f"{state.type}StateExited", {"name": state.name, "output": out_text}
    )
    return outcome


# --- Task, Parallel, Map: error handling around a body -----------------------------------

Body = Callable[[StateCall, JsonValue, str, int], Awaitable[JsonValue]]
"""(call, effective input, attempt key, retry count) -> the raw result."""


async def _handled(call: StateCall, raw_input: JsonValue, body: Body) -> Outcome:
    state = call.state
    assert isinstance(state, TaskState | ParallelState | MapState)
    retry = RetryState(state.retry)
    attempt = 0
    while True:
        attempt_key = f"{call.key}.{attempt}"
        try:
            effective = call.select(state.input_path, raw_input)
            result = await body(call, effective, attempt_key, retry.retry_count)
            assigned = call.assign(state.assign, result, retry.retry_count)
            result = call.template(state.result_selector, result, retry.retry_count, attempt_key)
            output = apply_result_path(raw_input, result, state.result_path)
            output = call.select(state.output_path, output)
            if state.jsonata:
                output = call.output(state.output, output, result=result)
            call.commit(assigned)
            return Outcome(state.next, output)
        except StatesError as err:
            delay = (
                None
                if err.error == RUNTIME
                else retry.next_retry(
                    err.error, call.run.rng(f"{attempt_key}:jitter"), err.also_matches
                )
            )
            _record_failure(call, err, attempt_key, delay, retry.retry_count)
            if delay is not None:
                await call.run.durable_sleep(f"{attempt_key}:retry-wake", delay)
                attempt += 1
                continue
            catcher = find_catcher(state.catch, err.error, err.also_matches)
            if catcher is None:
                # the names it is also matched by stay with this state's Retry and Catch: AWS
                # documents States.HeartbeatTimeout for a Task only (errors.heartbeat_timeout)
                raise StatesError(err.error, err.cause) from None
            error_output = {
                k: v for k, v in (("Error", err.error), ("Cause", err.cause)) if v is not None
            }
            assigned = call.assign(
                catcher.assign, error_output, retry.retry_count, as_="errorOutput"
            )
            output = apply_result_path(raw_input, error_output, catcher.result_path)
            if state.jsonata:
                output = call.output(catcher.output, output, errorOutput=error_output)
            call.commit(assigned)
            return Outcome(catcher.next, output)


def _record_failure(
    call: StateCall, err: StatesError, attempt_key: str, delay: float | None, retry_count: int
) -> None:
    if not isinstance(err, BodyFailure):
        return
    details = dict(err.details)
    if delay is not None:
        details["retry"] = {"retryCount": retry_count, "delaySeconds": delay}
    call.run.emit(call.frame, f"{attempt_key}:failed", err.event_type, details)


async def _task(call: StateCall, data: JsonValue) -> Outcome:
    return await _handled(call, data, run_task)


async def _map(call: StateCall, data: JsonValue) -> Outcome:
    state = call.state
    assert isinstance(state, MapState)
    return await _handled(call, data, run_map if state.distributed is None else run_distributed_map)


async def _parallel(call: StateCall, data: JsonValue) -> Outcome:
    return await _handled(call, data, run_parallel)


# --- the simple states -------------------------------------------------------------------


async def _pass(call: StateCall, data: JsonValue) -> Outcome:
    state = call.state
    assert isinstance(state, PassState)
    if state.jsonata:
        assigned = call.assign(state.assign, None, as_="")
        output = call.output(state.output, data)
        call.commit(assigned)
        return Outcome(state.next, output)
    effective = call.select(state.input_path, data)
    if state.result is not UNSET:
        result = state.result
    else:
        result = call.template(state.parameters, effective)
    assigned = call.assign(state.assign, result)
    output = apply_result_path(data, result, state.result_path)
    output = call.select(state.output_path, output)
    call.commit(assigned)
    return Outcome(state.next, output)


async def _choice(call: StateCall, data: JsonValue) -> Outcome:
    state = call.state
    assert isinstance(state, ChoiceState)
    if state.jsonata:
        return _choice_jsonata(call, state, data)
    effective = call.select(state.input_path, data)
    rule = state.rules.choose(effective, call.context(), call.frame.variables)
    # a matching rule assigns its own Assign; the state's Assign goes with Default
    target, assign = (state.default, state.assign) if rule is None else (rule.next, rule.assign)
    assigned = call.assign(assign, effective)
    output = call.select(state.output_path, effective)
    call.commit(assigned)
    return Outcome(target, output)


def _choice_jsonata(call: StateCall, state: ChoiceState, data: JsonValue) -> Outcome:
    """AWS: the first rule whose Condition is true is taken; its Assign and Output apply
    (the state's own Assign and Output go with Default)."""
    target, assign, output = state.default, state.assign, state.output
    for i, rule in enumerate(state.conditions):
        matched = call.query(rule.condition, f"Choices[{i}].Condition")
        if not isinstance(matched, bool):
            raise StatesError(
                QUERY_EVALUATION_ERROR,
                f"The Condition of Choices[{i}] of state {state.name!r} gave {matched!r}, "
                "not a boolean",
            )
        if matched:
            target, assign, output = rule.next, rule.assign, rule.output
            break
    if target is None:
        raise StatesError(NO_CHOICE_MATCHED, f"No Choice rule of {state.name!r} matched")
    assigned = call.assign(assign, None, as_="")
    result = call.output(output, data)
    call.commit(assigned)
    return Outcome(target, result)


async def _wait(call: StateCall, data: JsonValue) -> Outcome:
    state = call.state
    assert isinstance(state, WaitState)
    effective = call.select(state.input_path, data)
    assigned = call.assign(state.assign, effective, as_="")
    run = call.run
    if state.seconds_expr is not UNSET:
        state = dataclasses.replace(state, seconds=call.number("Seconds", state.seconds_expr))
    if state.timestamp_expr is not UNSET:
        when_text = call.query(state.timestamp_expr, "Timestamp")
        if not isinstance(when_text, str) or dataflow.parse_timestamp(when_text) is None:
            raise StatesError(
                QUERY_EVALUATION_ERROR,
                f"The JSONata expression {query.expression(state.timestamp_expr)!r} specified "
                f"for the field 'Timestamp' returned {json.dumps(when_text)}; Timestamp must "
                "be an RFC3339 timestamp string.",
            )
        state = dataclasses.replace(state, timestamp=when_text, seconds=None)
    if state.seconds is not None or state.seconds_path is not None:
        seconds = state.seconds
        if seconds is None:
            seconds = _seconds_path(state.seconds_path, call.select(state.seconds_path, effective))
        await run.durable_sleep(f"{call.key}:wake", float(seconds))
    else:
        text = state.timestamp or call.select(state.timestamp_path, effective)
        when = dataflow.parse_timestamp(text) if isinstance(text, str) else None
        if when is None:
            # recorded AWS (LocalStack's test_wait_timestamppath) words it so
            raise StatesError(
                RUNTIME,
                "The TimestampPath parameter does not reference a valid ISO-8601 extended "
                f"offset date-time format string: {state.timestamp_path} == {_shown(text)}",
            )
        await run.sleep_until(f"{call.key}:wake", when.astimezone(UTC).timestamp())
    output = call.select(state.output_path, effective)
    if state.jsonata:
        output = call.output(state.output, output)
    call.commit(assigned)
    return Outcome(state.next, output)


async def _succeed(call: StateCall, data: JsonValue) -> Outcome:
    effective = call.select(call.state.input_path, data)
    if call.state.jsonata:
        return Outcome(None, call.output(call.state.output, effective))
    return Outcome(None, call.select(call.state.output_path, effective))


async def _fail(call: StateCall, data: JsonValue) -> Outcome:
    state = call.state
    assert isinstance(state, FailState)
    if state.jsonata:
        raise StatesError(
            _fail_text(call, state.error, "Error"), _fail_text(call, state.cause, "Cause")
        )
    error = state.error if state.error_path is None else _fail_field(state.error_path, data, call)
    cause = state.cause if state.cause_path is None else _fail_field(state.cause_path, data, call)
    raise StatesError(error, cause)


def _fail_text(call: StateCall, value: str | None, field: str) -> str | None:
    if value is None:
        return None
    text = call.query(value, field)
    if not isinstance(text, str):
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"{field} of Fail state {call.state.name!r} gave {text!r}, not a string",
        )
    return text


def _fail_field(path: str, data: JsonValue, call: StateCall) -> str:
    if path.startswith("States."):
        value = evaluate(
            path, data, call.context(), rng=call.run.rng(call.key), variables=call.frame.variables
        )
    else:
        value = select(path, data, call.context(), variables=call.frame.variables)
    if not isinstance(value, str):
        raise StatesError(
            RUNTIME, f"{path!r} in Fail state {call.state.name!r} gave {value!r}, not a string"
        )
    return value


_BODIES: dict[str, Callable[[StateCall, JsonValue], Awaitable[Outcome]]] = {
    "Pass": _pass,
    "Task": _task,
    "Choice": _choice,
    "Wait": _wait,
    "Succeed": _succeed,
    "Fail": _fail,
    "Parallel": _parallel,
    "Map": _map,
}


def _seconds_path(path: str | None, value: JsonValue) -> int:
    """Wait's SecondsPath value, a natural number; else States.Runtime in the words of
    recorded AWS histories (LocalStack's test_base_wait_seconds_path: 1.5 and -1.5 "cannot
    be parsed as a long value", -1 "references a negative value")."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StatesError(
            RUNTIME,
            "The SecondsPath parameter cannot be parsed as a long value: "
            f"{path} == {_shown(value)}",
        )
    if value < 0:
        raise StatesError(
            RUNTIME, f"The SecondsPath parameter references a negative value: {path} == {value}"
        )
    return value


def _shown(value: JsonValue) -> str:
    """A value as AWS's Wait causes show it: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
