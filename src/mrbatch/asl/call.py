"""One visit of one state, as the state bodies see it, and how a body reports failure.

Shared by the interpreter (which runs the life cycle) and the bodies in task.py and fanout.py,
so the bodies depend on this small module and not on the interpreter that calls them. A body
that runs sub-programs (Map, Parallel) does so through `StateCall.run_program`, which the
interpreter injects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeAlias

from mrbatch.asl import dataflow, query, variables
from mrbatch.asl.definition import UNSET, JsonValue, Program, State
from mrbatch.asl.errors import StatesError
from mrbatch.asl.numbers import checked_number, path_number
from mrbatch.asl.run import Frame, Run

__all__ = ["BodyFailure", "Outcome", "ProgramRunner", "StateCall"]

ProgramRunner: TypeAlias = Callable[[Run, Program, JsonValue, Frame], Awaitable[JsonValue]]
"""Runs a (sub-)program from its StartAt in a frame and returns the frame's output."""


class BodyFailure(StatesError):
    """A body's failure plus the history event that records it (TaskFailed, MapStateFailed...)."""

    def __init__(self, err: StatesError, event_type: str, details: dict[str, JsonValue]) -> None:
        super().__init__(err.error, err.cause, also_matches=err.also_matches)
        self.event_type = event_type
        self.details = details


class Outcome(NamedTuple):
    """Where to go (None: the frame ends) and with what data."""

    next: str | None
    output: JsonValue


class StateCall:
    """One visit of one state: what a body needs to know about where it runs."""

    def __init__(
        self,
        run: Run,
        state: State,
        frame: Frame,
        key: str,
        entered: float,
        runner: ProgramRunner,
    ) -> None:
        self.run = run
        self.state = state
        self.frame = frame
        self.key = key
        self.entered = entered
        self._runner = runner
        self.input: JsonValue = None
        """The state's raw input (`$states.input` of a JSONata state); set by the interpreter."""

    async def run_program(self, program: Program, data: JsonValue, frame: Frame) -> JsonValue:
        """Run a branch or iteration of this state in `frame` (the interpreter's loop); when
        it ends, however it ends, its variables are no longer stored."""
        try:
            return await self._runner(self.run, program, data, frame)
        finally:
            self.run.variable_budget.release(frame.variable_sizes)

    def select(self, path: str | None, data: JsonValue, retry_count: int = 0) -> JsonValue:
        """InputPath/OutputPath/ItemsPath/…Path: AWS lets these read the context object
        (`$$`), which is built only for such a path, to keep the common case fast."""
        if path is not None and path.startswith("$$"):
            return dataflow.select(path, data, self.context(retry_count))
        return dataflow.select(path, data, variables=self.frame.variables)

    def template(
        self,
        payload: JsonValue,
        data: JsonValue,
        retry_count: int = 0,
        key: str | None = None,
        context: JsonValue = None,
    ) -> JsonValue:
        """A payload template (Parameters, ResultSelector) applied with this visit's context
        (or `context`), variables and durable random source (`key`: the attempt's, by
        default the visit's)."""
        if payload is UNSET:
            return data
        if self.state.jsonata:
            ctx = self.context(retry_count) if context is None else context
            return self.query(payload, "Arguments", retry_count, key, input=data, context=ctx)
        return dataflow.apply_template(
            payload,
            data,
            self.context(retry_count) if context is None else context,
            self.run.rng(key or self.key),
            variables=self.frame.variables,
        )

    def assign(
        self, assign: JsonValue, source: JsonValue, retry_count: int = 0, as_: str = "result"
    ) -> dict[str, JsonValue]:
        """The variables an Assign (None: none) gives, evaluated against `source` and the
        variables as they were when the state was entered; written later by `commit`.
        In a JSONata state `source` is `$states.<as_>` (result, errorOutput, or nothing)."""
        if assign is None:
            return {}
        if self.state.jsonata:
            extra = {as_: source} if as_ else {}
            values = self.query(assign, "Assign", retry_count, f"{self.key}:assign", **extra)
            return variables.evaluate_assign(
                values, None, None, {}, self.run.rng(self.key), self.state.name
            )
        return variables.evaluate_assign(
            assign,
            source,
            self.context(retry_count),
            self.frame.variables,
            self.run.rng(f"{self.key}:assign"),
            self.state.name,
        )

    def query(
        self,
        value: JsonValue,
        field: str,
        retry_count: int = 0,
        key: str | None = None,
        **states: JsonValue,
    ) -> JsonValue:
        """A JSONata field's value: its `{% %}` expressions evaluated over `$states` (input,
        context, and what `states` adds: result, errorOutput) and the variables."""
        given: dict[str, JsonValue] = {"input": self.input}
        given["context"] = states.pop("context", None) or self.context(retry_count)
        given.update(states)
        rng = self.run.rng(key or f"{self.key}:{field}")
        return query.evaluate_value(value, given, self.frame.variables, rng, field)

    def number(self, field: str, value: JsonValue, retry_count: int = 0) -> JsonValue:
        """A numeric field's value: `value` itself, or, when it is a `{% %}` expression (a
        JSONata state), what the expression gives, checked against the field's rule
        (`mrbatch.asl.numbers`: States.QueryEvaluationError when it does not fit)."""
        if not query.is_expression(value):
            return value
        result = self.query(value, field, retry_count)
        return checked_number(field, result, query.expression(value))

    def path_number(
        self, field: str, path: str, data: JsonValue, retry_count: int = 0
    ) -> int | float:
        """The number a `…Path` field (`field`, a key of `numbers.PATH_FIELDS`) selects from
        `data`, variables and `$$` included (as every …Path field reads them), checked
        against the field's rule (States.Runtime, or the rule's error, when it does not fit)."""
        return path_number(field, self.select(path, data, retry_count), path)

    def output(self, output: JsonValue, default: JsonValue, **states: JsonValue) -> JsonValue:
        """A JSONata state's Output (UNSET: `default`, the result or the input)."""
        if output is UNSET:
            return default
        return self.query(output, "Output", **states)

    def commit(self, values: dict[str, JsonValue]) -> None:
        """Write assigned variables into this frame's scope (at the end of the state), or
        raise States.DataLimitExceeded when the execution would store more than 10 MiB."""
        if values:
            self.run.variable_budget.store(self.frame.variable_sizes, values, self.state.name)
            self.frame.variables.update(values)

    def context(self, retry_count: int = 0, **extra: JsonValue) -> dict[str, JsonValue]:
        """The context object `$$` for this visit."""
        ctx: dict[str, JsonValue] = {
            "Execution": self.run.execution_context,
            "StateMachine": self.run.state_machine_context,
            "State": {
                "EnteredTime": dataflow.iso_timestamp(self.entered),
                "Name": self.state.name,
                "RetryCount": retry_count,
            },
        }
        ctx.update(extra)
        return ctx
