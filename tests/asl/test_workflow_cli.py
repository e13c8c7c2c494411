"""`mrbatch workflow run`: which state machine of a MockConfigFile a run takes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from mrbatch.cli import workflow_commands

PASS_TASK = {
    "StartAt": "Call",
    "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
}


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    workflow_commands.register(app)
    return app


def _mock_with_two_machines(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "StateMachines": {
                    "Other": {"TestCases": {"Happy": {"Call": "FromOther"}}},
                    "orders": {"TestCases": {"Happy": {"Call": "FromOrders"}}},
                },
                "MockedResponses": {
                    "FromOther": {"0": {"Return": {"machine": "Other"}}},
                    "FromOrders": {"0": {"Return": {"machine": "orders"}}},
                },
            }
        )
    )


def _run(tmp_path: Path, *extra: str) -> dict[str, object]:
    definition, mock = tmp_path / "orders.asl.json", tmp_path / "mock.json"
    definition.write_text(json.dumps(PASS_TASK))
    _mock_with_two_machines(mock)
    args = ["workflow", "run", str(definition), "--mock-config", str(mock)]
    args += ["--test-case", "Happy", "--db", str(tmp_path / "wf.db"), *extra]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    out: dict[str, object] = json.loads(result.output)
    return out


def test_workflow_run_picks_the_mock_machine_named_like_the_file_when_several(
    tmp_path: Path,
) -> None:
    """`--state-machine` says "default: the file name"; the mock names two machines, and the
    one named like the definition file (orders.asl.json -> "orders") answers."""
    assert _run(tmp_path) == {"status": "SUCCEEDED", "output": {"machine": "orders"}}


def test_workflow_run_takes_the_explicit_state_machine_over_the_file_name(
    tmp_path: Path,
) -> None:
    assert _run(tmp_path, "--state-machine", "Other") == {
        "status": "SUCCEEDED",
        "output": {"machine": "Other"},
    }
