"""The main orchestrator end to end, with real handlers, store, tables, mail sink and API."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from mrbatch.accesspoint import GatewayServer, generate_credentials
from mrbatch.enrichment.api import HttpFinancialSource, build_app, read_financial_csv
from mrbatch.handlers import naming
from mrbatch.handlers.region import set_current_region
from mrbatch.job import JobOptions, run_job
from mrbatch.pipeline import output_header, read_header
from mrbatch.pipeline.faults import parse_kinds
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.operations.local_run import LocalRun, RunOutcome

# The AWS sample's own files, shipped in the repository.
REAL_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "aws-sample" / "testfile.csv"
REAL_FINANCIALS = REAL_SAMPLE.with_name("testfile_financial_data.csv")
# What `mrbatch process` reports for the generated 300 rows (seed 7, 10 % invalid).
EXPECTED_300 = {"rowsRead": 300, "rowsWritten": 274, "rowsInvalid": 21, "rowsNotEnriched": 5}


def _run(
    data_dir: Path, source: Path, fin: Path, *, chunk_size: int, per_record: bool = False
) -> RunOutcome:
    with LocalRun(data_dir, fin, chunk_size=chunk_size, per_record=per_record) as run:
        return run.process(source)


def _without_file_column(errors_csv: bytes) -> list[bytes]:
    """Errors rows without their first column (`mrbatch process` names the path, a
    workflow names the object key)."""
    return [line.split(b",", 1)[1] for line in errors_csv.splitlines()]


def _expected(source: Path, fin: Path, out: Path, chunk_size: int) -> tuple[bytes, bytes]:
    summary = run_job(source, fin, out, options=JobOptions(chunk_size=chunk_size, workers=1))
    return Path(summary.output).read_bytes(), Path(summary.errors).read_bytes()


def test_batched_output_through_the_values_route_equals_mrbatch_process(
    sample_3000: tuple[Path, Path], tmp_path: Path
) -> None:
    """The stack's way: the chunk processor enriches through the enrichment API's values
    route (real HTTP, SigV4) over the financial table, and writes `mrbatch process`'s
    bytes; chunks of 700 rows, so the batch path runs on more than one chunk."""
    source, fin = sample_3000
    credentials = generate_credentials()
    with LocalRun(tmp_path / "region", fin, chunk_size=700) as run:
        run.tables.financials.put_many(list(read_financial_csv(fin)))
        app = build_app(run.tables.financials, region="us-east-1", credentials=[credentials])
        with GatewayServer(app) as api:
            http = HttpFinancialSource(api.url, credentials=credentials)
            set_current_region(dataclasses.replace(run.region, financials=http))
            try:
                outcome = run.process(source)
            finally:
                http.close()
    output, errors = _expected(source, fin, tmp_path / "process", 700)
    assert outcome.status == "SUCCEEDED", outcome.cause
    assert outcome.output_file is not None and outcome.errors_file is not None
    assert Path(outcome.output_file).read_bytes() == output
    assert _without_file_column(Path(outcome.errors_file).read_bytes()) == _without_file_column(
        errors
    )


@pytest.mark.parametrize("which", ["generated", "real-sample"])
def test_batched_output_equals_mrbatch_process(
    which: str, sample_3000: tuple[Path, Path], tmp_path: Path
) -> None:
    if which == "generated":
        source, fin = sample_3000
    else:
        source, fin = REAL_SAMPLE, REAL_FINANCIALS
    outcome = _run(tmp_path / "region", source, fin, chunk_size=700)
    output, errors = _expected(source, fin, tmp_path / "process", 700)
    assert outcome.status == "SUCCEEDED"
    version = outcome.file_id.rsplit("#", 1)[1]
    assert outcome.output_key == f"output/completed/{version}/{source.name}"
    assert outcome.output_file is not None and outcome.errors_file is not None
    assert Path(outcome.output_file).read_bytes() == output
    assert _without_file_column(Path(outcome.errors_file).read_bytes()) == _without_file_column(
        errors
    )
    assert outcome.counts is not None
    assert outcome.counts["rowsRead"] == len(source.read_bytes().splitlines()) - 1
    assert outcome.counts["rowsWritten"] == len(output.splitlines()) - 1


def _error_items(run: LocalRun) -> list[dict[str, Any]]:
    items = [dict(item) for item in run.tables.errors.scan()]
    for item in items:
        item["file_id"] = item["file_id"].split("#")[0]  # each run has its own version id
        for name in [name for name in item if name.startswith("_")]:
            item.pop(name)
    return sorted(items, key=lambda item: item["row"])


def test_per_record_and_batched_write_identical_files(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    source, fin = sample_300
    summary = run_job(source, fin, tmp_path / "process", options=JobOptions(workers=1))
    assert (summary.rows_written, summary.rows_invalid, summary.rows_not_enriched) == (274, 21, 5)
    seen: dict[bool, tuple[RunOutcome, list[dict[str, Any]], dict[str, bytes]]] = {}
    for per_record in (False, True):
        with LocalRun(tmp_path / str(per_record), fin, chunk_size=60, per_record=per_record) as run:
            outcome = run.process(source)
            version = outcome.file_id.split("#")[1]
            parts = {
                info.key.split("/", 2)[2]: run.region.store.get_bytes(info.key)
                for info in run.region.store.list(naming.work_prefix(version))
            }
            manifest = parts.pop("manifest.jsonl")  # names the version's keys: compared apart
            assert [json.loads(line)["index"] for line in manifest.splitlines()] == [0, 1, 2, 3, 4]
            seen[per_record] = (outcome, _error_items(run), parts)
    (batched, batched_errors, batched_parts), (per, per_errors, per_parts) = seen[False], seen[True]
    assert (batched.status, per.status) == ("SUCCEEDED", "SUCCEEDED")
    assert batched.counts == per.counts == EXPECTED_300
    assert batched.output_file and per.output_file and batched.errors_file and per.errors_file
    assert Path(per.output_file).read_bytes() == Path(batched.output_file).read_bytes()
    assert Path(per.errors_file).read_bytes() == Path(batched.errors_file).read_bytes()
    assert per_parts == batched_parts and len(per_parts) == 15  # 5 chunks x 3 objects
    assert per_errors == batched_errors and len(per_errors) == 26
    assert {item["rule"] for item in per_errors} >= {"enrichment", "fieldCount"}


def test_wrong_header_fails_the_file_and_writes_no_output(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    _source, fin = sample_300
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n1,a\n")
    with LocalRun(tmp_path / "region", fin, chunk_size=10) as run:
        outcome = run.process(bad)
        item = run.region.batch_state.get({"file_id": outcome.file_id})
        outputs = [info.key for info in run.region.store.list("output/")]
    assert outcome.status == "FAILED"
    assert outcome.error == "InputFileError"
    assert item is not None and item["status"] == "FAILED"
    assert item["error"] == "InputFileError"
    assert "the header lacks the column(s): uuid" in item["cause"]
    assert outputs == [] and outcome.output_file is None


def test_every_kind_of_invalid_row_across_chunk_ends_gives_the_process_output(
    tmp_path: Path,
) -> None:
    """Quoted fields with line breaks, bad quotes, short and long rows, non-UTF-8 bytes:
    the split finds the same record ends as `mrbatch process` (chunks of 7 rows, so many
    records sit next to a chunk end)."""
    source, fin = write_sample_files(tmp_path / "s", "dirty", 400, 3, 0.3, parse_kinds("all"))
    with LocalRun(tmp_path / "region", fin, chunk_size=7) as run:
        outcome = run.process(source)
    output, errors = _expected(source, fin, tmp_path / "process", 7)
    assert outcome.status == "SUCCEEDED", outcome.cause
    assert outcome.output_file is not None and outcome.errors_file is not None
    assert Path(outcome.output_file).read_bytes() == output
    assert _without_file_column(Path(outcome.errors_file).read_bytes()) == _without_file_column(
        errors
    )
    assert b'"' in source.read_bytes()  # the planner's quote-aware way was taken


def test_unterminated_quote_fails_the_split_before_any_chunk_is_written(
    sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    source, fin = sample_300
    bad = tmp_path / "bad.csv"
    bad.write_bytes(source.read_bytes() + b'535113847,"Azerbaijan,Snacks\n')
    with LocalRun(tmp_path / "region", fin, chunk_size=10) as run:
        outcome = run.process(bad)
        work = [info.key for info in run.region.store.list("work/")]
    assert (outcome.status, outcome.error) == ("FAILED", "InputFileError")
    assert outcome.cause is not None and "row 302" in outcome.cause
    assert "unterminated quote" in outcome.cause
    assert work == []


@pytest.mark.parametrize("per_record", [False, True])
def test_header_only_file_gives_header_only_output(
    per_record: bool, sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    source, fin = sample_300
    empty = tmp_path / "empty.csv"
    with source.open("rb") as stream:
        header = read_header(stream, file=str(source))
    empty.write_bytes(header.raw)
    outcome = _run(tmp_path / "region", empty, fin, chunk_size=10, per_record=per_record)
    assert outcome.status == "SUCCEEDED"
    assert outcome.counts == dict.fromkeys(EXPECTED_300, 0)
    assert outcome.output_file and outcome.errors_file
    assert Path(outcome.output_file).read_bytes() == output_header(header.columns)
    assert Path(outcome.errors_file).read_bytes() == b"file,row,field,rule,message,raw_row\n"


def _chunk_results(run: LocalRun, machine: str, prefix: str) -> list[dict[str, Any]]:
    records = [r for r in run.engine.list_executions(machine) if r.name.startswith(prefix)]
    return sorted((r.output["chunk"] for r in records), key=lambda chunk: chunk["name"])


@pytest.mark.parametrize("per_record", [False, True])
def test_rerun_reuses_chunks_and_a_modified_chunk_is_reprocessed(
    per_record: bool, sample_300: tuple[Path, Path], tmp_path: Path
) -> None:
    source, fin = sample_300
    machine = "chunk_processor" if per_record else "chunk_processor_batched"
    with LocalRun(tmp_path / "region", fin, chunk_size=100, per_record=per_record) as run:
        first = run.process(source)
        main = run.engine.describe_execution(first.execution_arn)
        again = run.engine.start_execution("main_orchestrator", main.input, name="again")
        assert run.engine.wait_for(again, timeout=60).status.value == "SUCCEEDED"
        reused = _chunk_results(run, machine, "again-")
        assert [chunk["reused"] for chunk in reused] == [True, True, True]
        assert sum(chunk["rowsRead"] for chunk in reused) == 300

        version = first.file_id.split("#")[1]
        chunk_key = naming.chunk_key(version, "part-00002-of-00003.csv")
        lines = run.region.store.get_bytes(chunk_key).splitlines(keepends=True)
        run.region.store.put(chunk_key, b"".join(lines[:3]))  # header + two records
        name = "part-00002-of-00003.csv"
        chunk = {"name": name, "key": chunk_key, "firstRow": 102}
        event = {**main.input, "index": 1, "chunk": chunk}
        redo = run.engine.start_execution(machine, event, name="modified")
        record = run.engine.wait_for(redo, timeout=60)
        processed = run.region.store.get_bytes(
            naming.processed_key(version, "part-00002-of-00003.csv")
        )
    assert record.status.value == "SUCCEEDED"
    assert record.output["chunk"]["reused"] is False
    assert record.output["chunk"]["rowsRead"] == 2
    assert len(processed.splitlines()) <= 3


def test_more_chunks_than_one_state_payload_carries_gives_the_process_output(
    sample_3000: tuple[Path, Path], tmp_path: Path
) -> None:
    """3,000 one-row chunks: their descriptors (the manifest) are larger than the 256 KiB
    a state's payload may hold, so they could not travel through the state as a list; the
    Distributed Map reads them from the manifest object and the output is `mrbatch
    process`'s, byte for byte."""
    source, fin = sample_3000
    with LocalRun(tmp_path / "region", fin, chunk_size=1) as run:
        outcome = run.process(source)
        version = outcome.file_id.split("#")[1]
        manifest = run.region.store.get_bytes(f"{naming.work_prefix(version)}manifest.jsonl")
        [map_run] = run.engine.list_map_runs(outcome.execution_arn)
    output, errors = _expected(source, fin, tmp_path / "process", 1)
    assert outcome.status == "SUCCEEDED", outcome.cause
    chunks = [json.loads(line) for line in manifest.splitlines()]
    as_list = json.dumps([{k: v for k, v in c.items() if k != "index"} for c in chunks])
    assert len(chunks) == 3000 and len(as_list) > 256 * 1024  # what the state used to carry
    assert map_run.item_counts["total"] == 3000 and map_run.item_counts["succeeded"] == 3000
    assert outcome.output_file is not None and outcome.errors_file is not None
    assert Path(outcome.output_file).read_bytes() == output
    assert _without_file_column(Path(outcome.errors_file).read_bytes()) == _without_file_column(
        errors
    )
