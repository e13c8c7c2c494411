"""The shipped definitions: statelint-clean, loadable with their substitutions, runnable with
a Step Functions Local mock config; and the `mrbatch run-local` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrbatch.asl import load_definition_file
from mrbatch.cli.app import app
from mrbatch.handlers.integrations import DEFINITIONS_DIR, definition_substitutions
from mrbatch.notify.sink import read_mailbox

DEFINITIONS = sorted(DEFINITIONS_DIR.glob("*.asl.json"))


def test_the_three_definitions_are_shipped() -> None:
    assert [path.name for path in DEFINITIONS] == [
        "chunk_processor.asl.json",
        "chunk_processor_batched.asl.json",
        "main_orchestrator.asl.json",
    ]


STATELINT_GAPS = ('Field "InputType" not allowed in State Machine.States.'
                  'Call Step Functions for each chunk.ItemReader.ReaderConfig',)  # fmt: skip
"""What statelint 3.1.0 wrongly refuses: it predates `ReaderConfig.InputType`, which AWS
requires for an `s3:getObject` ItemReader ("InputType: Accepts one of the following values:
CSV, JSON, JSONL, MANIFEST", ItemReader (Map), AWS Developer Guide)."""


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda path: path.name)
def test_definition_passes_statelint(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True, timeout=60
    )
    problems = [line.strip() for line in done.stdout.splitlines()[1:]]
    assert [p for p in problems if p not in STATELINT_GAPS] == [], done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("per_record", [False, True])
def test_substitutions_fill_every_placeholder(per_record: bool) -> None:
    values = definition_substitutions(
        enrichment_endpoint="http://127.0.0.1:1", per_record=per_record
    )
    processor = "chunk_processor" if per_record else "chunk_processor_batched"
    assert values["ChunkProcessorStateMachineArn"].endswith(f":stateMachine:{processor}")
    assert values["ReadFileFunctionArn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:mrbatch-read-file"
    )
    for path in DEFINITIONS:
        text = json.dumps(load_definition_file(path, values).source)
        assert "${" not in text, path.name


MOCK = {
    "StateMachines": {
        "main_orchestrator": {
            "TestCases": {
                "HappyPath": {
                    "Split Input File into chunks": "TwoChunks",
                    "Call Chunk Processor Workflow": "ChunkDone",
                    "Merge all Files": "Merged",
                    "Email the file": "Sent",
                },
                "SplitFails": {
                    "Split Input File into chunks": "BadHeader",
                    "Record the failed file": "Recorded",
                },
            }
        }
    },
    "MockedResponses": {
        "TwoChunks": {"0": {"Return": {"Payload": {"bucket": "b", "manifest": "m.jsonl",
                                                   "chunks": 2, "rows": 3}}}},
        "ChunkDone": {"0-1": {"Return": {"Output": {"chunk": {"name": "p", "reused": False}}}}},
        "Merged": {"0": {"Return": {"Payload": {"output": "output/completed/a.csv",
                                                "errors": "output/errors/a.csv",
                                                "counts": {"rowsRead": 3}}}}},
        "Sent": {"0": {"Return": {"Payload": {"sent": True, "url": "http://x"}}}},
        "BadHeader": {"0": {"Throw": {"Error": "InputFileError", "Cause": "bad header"}}},
        "Recorded": {"0": {"Return": {"Payload": {"status": "FAILED"}}}},
    },
}  # fmt: skip
INPUT = {"fileId": "input/a.csv#v1", "key": "input/a.csv", "versionId": "v1", "epoch": 1}


CHUNKS = [{"name": "p1", "key": "k1", "firstRow": 2, "index": 0},
          {"name": "p2", "key": "k2", "firstRow": 4, "index": 1}]  # fmt: skip


def _workflow_run(tmp_path: Path, test_case: str) -> dict[str, object]:
    mock = tmp_path / "mock.json"
    mock.write_text(json.dumps(MOCK))
    bucket = tmp_path / "bucket"  # the split's manifest, which the chunk Map reads
    bucket.mkdir()
    (bucket / "m.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHUNKS))
    args = ["workflow", "run", str(DEFINITIONS_DIR / "main_orchestrator.asl.json"),
            "--input", json.dumps(INPUT), "--mock-config", str(mock), "--test-case", test_case,
            "--no-wait", "--db", str(tmp_path / f"{test_case}.db"),
            "--bucket-dir", str(bucket)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    outcome: dict[str, object] = json.loads(result.output)
    return outcome


def test_mock_config_happy_path_succeeds(tmp_path: Path) -> None:
    outcome = _workflow_run(tmp_path, "HappyPath")
    merged = {"output": "output/completed/a.csv", "errors": "output/errors/a.csv",
              "counts": {"rowsRead": 3}}  # fmt: skip
    split = {"bucket": "b", "manifest": "m.jsonl", "chunks": 2, "rows": 3}
    expected = {**INPUT, "split": split, "merge": merged,
                "email": {"sent": True, "url": "http://x"}}  # fmt: skip
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["output"] == expected


def test_mock_config_failed_split_ends_failed(tmp_path: Path) -> None:
    outcome = _workflow_run(tmp_path, "SplitFails")
    assert outcome == {"status": "FAILED", "error": "InputFileError", "cause": "bad header"}


def test_run_local_command_prints_the_outcome(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    source, fin = sample_300
    args = ["run-local", str(source), "--financials", str(fin), "--chunk-size", "100",
            "--data-dir", str(tmp_path / "data"), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["counts"] == {"rowsRead": 300, "rowsWritten": 274, "rowsInvalid": 21,
                                 "rowsNotEnriched": 5}  # fmt: skip
    output = Path(outcome["output_file"])
    version = outcome["file_id"].rsplit("#", 1)[1]
    completed = tmp_path / "data" / "files" / "output" / "completed"
    assert output == completed / version / source.name  # one output per file version
    assert len(output.read_bytes().splitlines()) == 275
    mail = read_mailbox(tmp_path / "data" / "mail")
    assert [message["Subject"] for message in mail] == [f"mrbatch: {source.name} is processed"]
    assert output.as_uri() in mail[0].get_content()


def test_run_local_refuses_a_missing_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run-local", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "does not exist" in str(result.exception)
