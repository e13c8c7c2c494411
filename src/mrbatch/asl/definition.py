"""A state machine definition as typed dataclasses, parsed from ASL JSON (JSONPath mode).

Parsing and load-time validation live in `mrbatch.asl.loader`; this module only holds the
shapes, so the interpreter can read `state.next` instead of `raw["Next"]`. Payload templates
(Parameters, ResultSelector, ItemSelector) and Choice rules are kept as the JSON they came
from: the data-flow functions evaluate them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

JsonValue: TypeAlias = Any
"""A JSON value as `json.loads` returns it (dict, list, str, int, float, bool, None)."""

# ResultPath is special: a missing ResultPath means "$" but an explicit null means "discard
# the result". `UNSET` tells the two apart.
UNSET: Any = object()


@dataclass(frozen=True)
class Retrier:
    """One element of a state's Retry array."""

    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter_full: bool = False


@dataclass(frozen=True)
class Catcher:
    """One element of a state's Catch array."""

    error_equals: tuple[str, ...]
    next: str
    result_path: str | None = "$"
    assign: JsonValue = None
    """The catcher's Assign object (None: none); `$` in it is the error output."""
    output: JsonValue = UNSET
    """JSONata: the catcher's Output (UNSET: the error output, `$states.errorOutput`)."""


@dataclass(frozen=True)
class State:
    """Fields every state may have (those a type does not allow are rejected at load)."""

    name: str
    type: str
    comment: str | None = None
    next: str | None = None
    end: bool = False
    input_path: str | None = "$"
    output_path: str | None = "$"
    assign: JsonValue = None
    """The state's Assign object (None: the state assigns no variable)."""
    jsonata: bool = False
    """`QueryLanguage: JSONata`: Arguments (kept in `parameters`), Output, Assign and the
    other fields hold `{% %}` expressions over `$states` (see `mrbatch.asl.query`)."""
    output: JsonValue = UNSET
    """JSONata: the state's Output (UNSET: the result, or the input for states without one)."""
    expressions: dict[str, JsonValue] = field(default_factory=dict)
    """JSONata: the numeric fields given as `{% %}` expressions (TimeoutSeconds,
    MaxConcurrency, ...), by field name; each is evaluated when the state runs and its value
    checked by `mrbatch.asl.numbers` (the literal forms stay in their typed fields)."""


@dataclass(frozen=True)
class PassState(State):
    result: JsonValue = UNSET
    result_path: JsonValue = "$"
    parameters: JsonValue = UNSET


@dataclass(frozen=True)
class TaskState(State):
    resource: str = ""
    parameters: JsonValue = UNSET
    result_selector: JsonValue = UNSET
    result_path: JsonValue = "$"
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    timeout_seconds: int | None = None
    timeout_seconds_path: str | None = None
    heartbeat_seconds: int | None = None
    heartbeat_seconds_path: str | None = None


@dataclass(frozen=True)
class ConditionRule:
    """A JSONata Choice rule: `Condition` (a `{% %}` expression or a boolean)."""

    condition: JsonValue
    next: str
    assign: JsonValue = None
    output: JsonValue = UNSET


@dataclass(frozen=True)
class ChoiceState(State):
    choices: tuple[JsonValue, ...] = ()
    default: str | None = None
    rules: Any = None
    """The compiled rules (`mrbatch.asl.choice.ChoiceState`), evaluated per run."""
    conditions: tuple[ConditionRule, ...] = ()
    """JSONata: the rules, in order (the first whose Condition is true is taken)."""


@dataclass(frozen=True)
class WaitState(State):
    seconds: int | None = None
    timestamp: str | None = None
    seconds_path: str | None = None
    timestamp_path: str | None = None
    seconds_expr: JsonValue = UNSET
    """JSONata: a `{% %}` Seconds or Timestamp (`timestamp_expr`), evaluated per visit."""
    timestamp_expr: JsonValue = UNSET


@dataclass(frozen=True)
class SucceedState(State):
    pass


@dataclass(frozen=True)
class FailState(State):
    error: str | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None


@dataclass(frozen=True)
class Program:
    """A group of states with a start: the top level, a Parallel branch, a Map iterator."""

    start_at: str
    states: dict[str, State]


@dataclass(frozen=True)
class ParallelState(State):
    branches: tuple[Program, ...] = ()
    parameters: JsonValue = UNSET
    result_selector: JsonValue = UNSET
    result_path: JsonValue = "$"
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()


@dataclass(frozen=True)
class MapState(State):
    iterator: Program = field(default_factory=lambda: Program("", {}))
    items_path: str = "$"
    item_selector: JsonValue = UNSET
    max_concurrency: int = 0
    max_concurrency_path: str | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None
    tolerated_failure_count_path: str | None = None
    tolerated_failure_percentage_path: str | None = None
    result_selector: JsonValue = UNSET
    result_path: JsonValue = "$"
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    items: JsonValue = UNSET
    """JSONata: the Items array or expression (UNSET: the state input)."""
    distributed: Distributed | None = None
    """Set for `ProcessorConfig.Mode: DISTRIBUTED` (None: an inline Map)."""


@dataclass(frozen=True)
class Distributed:
    """What only a Distributed Map has: its items source, batching, result export, and the
    ItemProcessor's JSON, which becomes the child executions' state machine."""

    execution_type: str
    processor: dict[str, JsonValue]
    label: str | None = None
    item_reader: dict[str, JsonValue] | None = None
    item_batcher: dict[str, JsonValue] | None = None
    result_writer: dict[str, JsonValue] | None = None


@dataclass(frozen=True)
class StateMachineDefinition:
    """A whole definition: the top-level program plus the execution timeout."""

    program: Program
    timeout_seconds: int | None = None
    comment: str | None = None
    source: dict[str, JsonValue] = field(default_factory=dict)
    """The JSON the definition was parsed from (after substitution), kept for persistence."""


ERROR_HANDLING_STATES = (TaskState, ParallelState, MapState)
"""The states that accept Retry, Catch and ResultSelector."""
