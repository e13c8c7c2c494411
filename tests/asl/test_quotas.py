"""AWS Step Functions quotas the engine enforces the same way: history size, names, payloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import Engine
from mrbatch.asl.engine import InvalidNameError

RUNAWAY_LOOP = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Pass",
            "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
            "Next": "Again",
        },
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 1000000, "Next": "Count"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True) as eng:
        yield eng


def test_history_limit_fails_the_execution_at_event_25000(engine: Engine) -> None:
    """AWS: "Step Functions has a hard quota of 25,000 entries in the execution event history.
    When an execution reaches 24,999 events, it waits for the next event to happen. ... If the
    event number 25,000 isn't ExecutionSucceeded, the ExecutionFailed event is logged". Recorded
    AWS histories read: {"type": "ExecutionFailed", "id": 25000, "previousEventId": 24999,
    "executionFailedEventDetails": {"error": "States.Runtime", "cause": "The execution reached
    the maximum number of history events (25000)."}}"""
    arn = engine.create_state_machine("loop", RUNAWAY_LOOP)
    done = engine.wait_for(engine.start_execution(arn, {"n": 0}), timeout=120)
    assert (done.status.value, done.error, done.cause) == (
        "FAILED",
        "States.Runtime",
        "The execution reached the maximum number of history events (25000).",
    )
    history = engine.get_execution_history(done.arn)
    last = history[-1]
    assert (len(history), last.id, last.type) == (25000, 25000, "ExecutionFailed")
    assert last.previous_event_id == 24999


def test_history_of_exactly_25000_events_ending_in_success_succeeds(engine: Engine) -> None:
    """AWS: "If the event number 25,000 is ExecutionSucceeded, the execution finishes
    successfully." Every state visit writes 2 events; ExecutionStarted and ExecutionSucceeded
    one each: 6,249 (Count, Again) pairs and Last are 12,499 visits, 1 + 24,998 + 1 events."""
    loop = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 6249, "Next": "Count"}],
                "Default": "Last",
            },
            "Last": {"Type": "Pass", "End": True},
        },
    }
    arn = engine.create_state_machine("exact", loop)
    done = engine.wait_for(engine.start_execution(arn, {"n": 0}), timeout=120)
    history = engine.get_execution_history(done.arn)
    assert (done.status.value, len(history)) == ("SUCCEEDED", 25000)


@pytest.mark.parametrize("name", ["x" * 81, "", "has space", "a/b", "a:b", "a*b", "tab\there"])
def test_execution_name_refused_when_longer_than_80_or_with_forbidden_characters(
    engine: Engine, name: str
) -> None:
    """AWS StartExecution `name`: "Length Constraints: Minimum length of 1. Maximum length of
    80." and "A name must not contain: white space, brackets, wildcard characters, special
    characters, control characters"; AWS answers InvalidName."""
    arn = engine.create_state_machine(
        "m", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    with pytest.raises(InvalidNameError):
        engine.start_execution(arn, {}, name=name)


def test_execution_name_of_80_characters_is_accepted(engine: Engine) -> None:
    """AWS StartExecution `name`: "Maximum length of 80"."""
    arn = engine.create_state_machine(
        "m", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    done = engine.wait_for(engine.start_execution(arn, {}, name="a-" + "b" * 78), 30)
    assert done.status.value == "SUCCEEDED"
