"""Workflow variables (JSONPath mode): checking `Assign` at load and evaluating it per visit.

AWS Step Functions lets Pass, Task, Map, Parallel, Choice and Wait states (and Catchers and
Choice Rules) assign variables, read later as `$name` in any path or intrinsic argument.
The rules followed here, from the AWS Developer Guide ("Passing data between states with
variables"):

- every expression of one state reads the variables as they were when the state was
  entered; the new values are written only when the state ends, so `{"x.$": "$y",
  "y.$": "$x"}` swaps the two;
- in Assign, `$` is the state's result before ResultSelector and ResultPath (a Pass state's
  Result or Parameters; a Choice or Wait state's effective input; a Catcher's error output);
- a Map iteration or Parallel branch reads the variables of the scopes around it and has its
  own scope for what it assigns; it may not assign a name an outer scope assigns (rejected
  when the definition is loaded), and its variables are not visible outside it;
- a variable holds at most 256 KiB of JSON, one Assign at most 256 KiB in total, and all
  the variables an execution stores at most 10 MiB (`VariableBudget`); AWS documents no
  error name for these quotas, so the engine uses States.DataLimitExceeded, its name for the
  payload quota.
"""

from __future__ import annotations

import random
from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import Final, TypeAlias

from mrbatch.asl import dataflow
from mrbatch.asl.definition import (
    ChoiceState,
    JsonValue,
    MapState,
    ParallelState,
    Program,
    State,
    TaskState,
)
from mrbatch.asl.errors import DATA_LIMIT_EXCEEDED, DefinitionError, StatesError
from mrbatch.asl.pathsyntax import VARIABLE_NAME

__all__ = [
    "MAX_TOTAL_VARIABLE_BYTES",
    "MAX_VARIABLE_BYTES",
    "Scope",
    "VariableBudget",
    "check_assign",
    "check_scopes",
    "evaluate_assign",
]

Scope: TypeAlias = ChainMap[str, JsonValue]
"""The variables a frame sees: its own (first map, where Assign writes) and its parents'."""

MAX_VARIABLE_BYTES: Final = dataflow.MAX_PAYLOAD_BYTES
"""AWS: "Maximum size of a single variable: 256 KiB" (and of one Assign, all together)."""

MAX_TOTAL_VARIABLE_BYTES: Final = 10 * 1024 * 1024
"""AWS: "The total size of all stored variables cannot exceed 10MiB per execution"."""

MAX_NAME_CHARS: Final = 80
RESERVED: Final = frozenset({"states"})
"""`$states` is the JSONata context variable; AWS refuses it as a variable name."""


# --- load time -----------------------------------------------------------------------------


def check_assign(assign: JsonValue, state: str, field: str) -> JsonValue:
    """Validate an Assign object (names, `.$` values) and return it unchanged.

    >>> check_assign({"count": 1, "id.$": "$.id"}, "S", "Assign")
    {'count': 1, 'id.$': '$.id'}
    """
    if not isinstance(assign, dict):
        raise DefinitionError(f"{field} must be an object of variable names", state=state)
    for key in assign:
        name = key[:-2] if key.endswith(".$") else key
        if not VARIABLE_NAME.fullmatch(name) or len(name) > MAX_NAME_CHARS:
            raise DefinitionError(
                f"{field}: {name!r} is not a variable name (a letter or '_', then letters, "
                f"digits or '_', at most {MAX_NAME_CHARS} characters)",
                state=state,
            )
        if name in RESERVED:
            raise DefinitionError(f"{field}: ${name} is reserved", state=state)
    dataflow.check_template(assign, state, field)
    return assign


def check_scopes(program: Program, outer: frozenset[str] = frozenset()) -> None:
    """Reject a state inside a Map or Parallel that assigns a variable an outer scope
    assigns (AWS refuses such a definition)."""
    own = {name for state in program.states.values() for name in _assigned(state)}
    for state in program.states.values():
        clash = sorted(set(_assigned(state)) & outer)
        if clash:
            raise DefinitionError(
                f"Assign: cannot assign ${clash[0]}, a variable of an outer scope", state=state.name
            )
    inner_outer = outer | own
    for state in program.states.values():
        for sub in _sub_programs(state):
            check_scopes(sub, inner_outer)


def _assigned(state: State) -> Iterator[str]:
    assigns = [state.assign]
    if isinstance(state, TaskState | ParallelState | MapState):
        assigns += [c.assign for c in state.catch]
    if isinstance(state, ChoiceState):
        assigns += [rule.assign for rule in state.rules.choices]
    for assign in assigns:
        if isinstance(assign, dict):
            yield from (k[:-2] if k.endswith(".$") else k for k in assign)


def _sub_programs(state: State) -> tuple[Program, ...]:
    if isinstance(state, ParallelState):
        return state.branches
    if isinstance(state, MapState):
        return (state.iterator,)
    return ()


# --- run time ------------------------------------------------------------------------------


def evaluate_assign(
    assign: JsonValue,
    source: JsonValue,
    context: JsonValue,
    variables: Mapping[str, JsonValue],
    rng: random.Random,
    state: str,
) -> dict[str, JsonValue]:
    """The values an Assign gives (not yet written), each within the 256 KiB limit."""
    values = dataflow.apply_template(assign, source, context, rng, variables=variables)
    assert isinstance(values, dict)
    total = 0
    for name, value in values.items():
        size = _size(value)
        total += size
        if size > MAX_VARIABLE_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The variable {name!r} assigned by state {state!r} has {size} bytes, more "
                f"than the {MAX_VARIABLE_BYTES}-byte (256 KiB) limit.",
            )
    if total > MAX_VARIABLE_BYTES:
        raise StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The Assign of state {state!r} gives {total} bytes of variables, more than the "
            f"{MAX_VARIABLE_BYTES}-byte (256 KiB) limit.",
        )
    return values


def _size(value: JsonValue) -> int:
    text = dataflow.dumps(value)
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class VariableBudget:
    """The bytes of JSON all live scopes of one execution store, against the 10 MiB quota.

    Each scope keeps the size of each of its own variables (`sizes`); a variable assigned
    again counts only its new value, and a scope that ends (a Map iteration, a Parallel
    branch: AWS, "its variables go out of scope and are no longer accessible") gives its
    bytes back. Replay after a restart assigns the same values again, so the total is rebuilt
    with the variables.
    """

    def __init__(self) -> None:
        self.total = 0

    def store(self, sizes: dict[str, int], values: Mapping[str, JsonValue], state: str) -> None:
        """Count `values` into the scope whose variable sizes are `sizes`, or raise
        States.DataLimitExceeded (nothing counted) when the total would pass 10 MiB."""
        new = {name: _size(value) for name, value in values.items()}
        total = self.total + sum(size - sizes.get(name, 0) for name, size in new.items())
        if total > MAX_TOTAL_VARIABLE_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The Assign of state {state!r} would make the execution store {total} bytes "
                f"of variables, more than the {MAX_TOTAL_VARIABLE_BYTES}-byte (10 MiB) limit.",
            )
        sizes.update(new)
        self.total = total

    def release(self, sizes: dict[str, int]) -> None:
        """The scope whose variable sizes are `sizes` ended: its variables are gone."""
        self.total -= sum(sizes.values())
        sizes.clear()
