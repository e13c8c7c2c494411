"""Run every parity case (tests/asl/parity/cases/*.json) and compare with what AWS does.

Cases are data so that anyone can add one (see README.md in this folder for the format and
for how a case is recorded against a real AWS account).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mrbatch.asl import Engine, MockConfig

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))


def _mock(name: str, mocks: dict[str, Any]) -> MockConfig:
    """The case's mocks as a MockConfigFile with one state machine and one test case."""
    responses = {f"{state}Response": entries for state, entries in mocks.items()}
    raw = {
        "StateMachines": {name: {"TestCases": {"Case": {s: f"{s}Response" for s in mocks}}}},
        "MockedResponses": responses,
    }
    return MockConfig.from_json(raw, name, "Case")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_matches_aws_outcome(path: Path, tmp_path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    name, expected = "parity", case["expected"]
    mock = _mock(name, case["mocks"]) if case.get("mocks") else None
    with Engine(tmp_path / "wf.db", mock=mock, no_wait=True) as engine:
        arn = engine.create_state_machine(name, case["definition"])
        done = engine.wait_for(engine.start_execution(arn, case.get("input", {})), 60)
        history = engine.get_execution_history(done.arn)
    assert done.status.value == expected["status"], (done.error, done.cause)
    if "output" in expected:
        assert done.output == expected["output"]
    if "error" in expected:
        assert done.error == expected["error"]
    if "cause_contains" in expected:
        assert expected["cause_contains"] in (done.cause or "")
    if "event_types" in expected:
        assert [e.type for e in history] == expected["event_types"]


def test_cases_are_found() -> None:
    assert len(CASES) >= 6
