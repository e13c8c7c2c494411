"""The execution-wide quota on workflow variables.

AWS (Passing data between states with variables, "Limits"): "The maximum size of a single
variable is 256Kib ... The maximum combined size for all variables in a single Assign field
is also 256Kib ... The total size of all stored variables cannot exceed 10MiB per
execution." AWS documents no error name for the variable quotas; the engine uses
States.DataLimitExceeded, AWS's name for its payload quota, as for the two 256 KiB limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import Engine, ExecutionRecord
from mrbatch.asl.definition import JsonValue

BIG = "{% $pad('', 204800, 'x') %}"
"""A 200 KiB string: 204,802 bytes of JSON. 51 of them fit in 10 MiB (10,485,760 bytes),
52 do not."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        yield eng


def chain(names: list[str]) -> dict[str, JsonValue]:
    """Pass states P0, P1, ... each assigning the 200 KiB value to `names[i]`."""
    states: dict[str, JsonValue] = {}
    for i, name in enumerate(names):
        state: dict[str, JsonValue] = {"Type": "Pass", "Assign": {name: BIG}}
        state.update({"Next": f"P{i + 1}"} if i + 1 < len(names) else {"End": True})
        states[f"P{i}"] = state
    return states


def run(engine: Engine, states: dict[str, JsonValue], start: str = "P0") -> ExecutionRecord:
    definition = {"QueryLanguage": "JSONata", "StartAt": start, "States": states}
    arn = engine.create_state_machine("sm", definition)
    return engine.wait_for(engine.start_execution(arn, {}), timeout=60)


def test_variables_over_10_mib_in_all_fail_with_data_limit_exceeded(engine: Engine) -> None:
    """AWS: "The total size of all stored variables cannot exceed 10MiB per execution":
    51 variables of 200 KiB are stored, the 52nd is refused by the state that assigns it."""
    fits = run(engine, chain([f"v{i}" for i in range(51)]))
    assert fits.status.value == "SUCCEEDED", (fits.error, fits.cause)
    over = run(engine, chain([f"v{i}" for i in range(52)]))
    assert (over.status.value, over.error) == ("FAILED", "States.DataLimitExceeded")
    assert "'P51'" in (over.cause or "") and "10 MiB" in (over.cause or "")


def test_assigning_a_variable_again_replaces_its_size(engine: Engine) -> None:
    """A variable assigned again holds only its new value: 60 assignments of one name store
    200 KiB, not 60 times that."""
    done = run(engine, chain(["same"] * 60))
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)


def test_variables_of_finished_iterations_no_longer_count(engine: Engine) -> None:
    """AWS: "When a Parallel branch or Map iteration completes, its variables go out of scope
    and are no longer accessible", so they are no longer stored: 60 iterations, one at a time,
    each assigning 200 KiB, stay under 10 MiB."""
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"mine": BIG},
                                                "End": True}}}  # fmt: skip
    states = {
        "M": {
            "Type": "Map",
            "Items": "{% [1..60] %}",
            "MaxConcurrency": 1,
            "ItemProcessor": inner,
            "Output": "{% $count($states.result) %}",
            "End": True,
        }
    }
    done = run(engine, states, start="M")
    assert (done.status.value, done.output) == ("SUCCEEDED", 60), (done.error, done.cause)
