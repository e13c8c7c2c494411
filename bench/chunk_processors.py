"""The chunk processors through the main orchestrator against the pipeline called directly.

    .venv/bin/python bench/chunk_processors.py [--rows N] [--chunk-size N] [--repeat N]
                                               [--per-record-rows N] [--no-stack]

Every row times one file, steady state: what a long-running region pays per file. Setup
(loading the rules and the financial data, opening a `LocalRun` or starting a stack) is
outside the timings, for the baseline as for the workflows; the `LocalRun` open + close cost
is printed on its own line. `seconds` is the median wall time per file over `--repeat`
files, `cpu` the median CPU time of this process over the same files (all its threads;
`-` where the work runs in other processes), `ratio` is seconds over the baseline's.

The rows, from the least to the most machinery:

1. **pipeline called directly (baseline)**: split, `process_chunk` on every chunk, merge,
   in memory. Pure work: no object store, no table, no email. The issue's target (issue 3)
   is the batched workflow within 1.5x of this.
2. **step handlers in sequence, no engine**: the main orchestrator's handlers called one
   after another from Python (split, process every chunk, merge, email) on the same
   `LocalRun` region. The same work as the workflow *including its durable side effects*
   (the input and chunk objects, the error-table rows, the errors parts, the output and
   errors report, the email), without the ASL engine. Row 3 minus this row is what the
   engine costs; this row minus row 1 is what the side effects cost.
3. **main orchestrator, batched, in process**: `LocalRun.process` (upload, trigger, split,
   Map of nested chunk-processor executions, merge, email): the handlers run on threads of
   this process (`in_process=True`), sharing one GIL.
4. **main orchestrator, batched, region process**: a real stack (`start_stack`: region
   processes with their worker pool of 2 processes, handlers NOT in process, enrichment
   through the region's HTTP enrichment API, replication to the standby running alongside).
   `seconds` is the main orchestrator execution's own duration (its start to its stop in
   the region's engine); the "upload to done" row adds the access point, the change feed,
   the region loop's polling (0.1 s) and the trigger (measured until the execution ends).
5. **per-record processor** on a smaller file, against its own baseline: one state per
   record, as the AWS sample (slow by design; kept for fidelity).

Every workflow's output is checked byte-identical to the baseline's.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mrbatch.handlers import naming, steps
from mrbatch.pipeline import (
    CsvFinancialSource,
    FinancialSource,
    Rules,
    load_rules,
    merge,
    output_header,
    process_chunk,
    read_header,
    split,
)
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.local_run import LocalRun
from mrbatch.runtime.operations.stackinfo import access_point_client
from mrbatch.runtime.services.stack import start_stack
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.runtime.wiring import open_region_store

Timing = tuple[float, float | None, bytes]  # median seconds, median CPU seconds, output


def direct(source: Path, rules: Rules, fin: FinancialSource, chunk_size: int) -> bytes:
    """Row 1: the pipeline alone, in memory."""
    with source.open("rb") as stream:
        header = read_header(stream, file=source.name)
        stream.seek(0)
        parts = [
            io.BytesIO(
                process_chunk(
                    chunk.data, rules=rules, financials=fin, first_row=chunk.first_row,
                    file=source.name,
                ).output
            )
            for chunk in split(stream, chunk_size=chunk_size, file=source.name)
        ]  # fmt: skip
    out = io.BytesIO()
    merge(parts, out, header=output_header(header.columns))
    return out.getvalue()


def handlers_in_sequence(run: LocalRun, source: Path, key: str) -> bytes:
    """Row 2: the orchestrator's steps called in order, with the events the definition
    would build (`LocalRun` installed its region for the handlers)."""
    info = run.region.store.put(key, source.read_bytes())
    event: dict[str, Any] = {
        "fileId": naming.file_id(key, info.version_id),
        "key": key,
        "versionId": info.version_id,
        "epoch": run.region.routing.state().epoch,
        "region": run.region.name,
    }
    event["split"] = steps.split_input_file(event)
    for index, chunk in enumerate(event["split"]["chunks"]):
        item = {k: event[k] for k in ("fileId", "key", "versionId", "epoch")}
        steps.process_chunk_batched({**item, "chunk": chunk, "index": index})
    event["merge"] = steps.merge_all_files(event)
    steps.email_the_file(event)
    return run.region.store.get_bytes(event["merge"]["output"])


def orchestrated(run: LocalRun, source: Path, key: str) -> bytes:
    """Row 3 (and 5): the whole main orchestrator through `LocalRun`."""
    outcome = run.process(source, key=key)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output_key
    return run.region.store.get_bytes(outcome.output_key)


def timed(fn: Callable[[int], bytes], repeat: int) -> Timing:
    """Median wall and CPU seconds of `fn(i)` for i in range(repeat), and its last result."""
    walls, cpus, result = [], [], b""
    for index in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(index)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def in_process_rows(
    root: Path, source: Path, fin: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Rows 2 and 3 on one `LocalRun` (opened once), plus its open + close cost."""
    started = time.perf_counter()
    with LocalRun(root / "local", fin, chunk_size=args.chunk_size) as run:
        opened = time.perf_counter() - started
        orchestrated(run, source, "input/warm-up.csv")  # first-run imports and caches
        rows = {
            "handlers": timed(
                lambda i: handlers_in_sequence(run, source, f"input/seq-{i}.csv"), args.repeat
            ),
            "workflow": timed(
                lambda i: orchestrated(run, source, f"input/wf-{i}.csv"), args.repeat
            ),
        }
        closing = time.perf_counter()
    rows["setup"] = (opened + time.perf_counter() - closing, None, b"")
    return rows


@contextmanager
def running_stack(root: Path, fin: Path, chunk_size: int) -> Iterator[StackConfig]:
    """A real local stack (every process) over `root`; stopped on exit."""
    config = StackConfig(
        data_dir=root / "stack", chunk_size=chunk_size, extra={"financials": str(fin)}
    )
    supervisor, _record = start_stack(config)
    try:
        yield StackConfig.load(config.data_dir)
    finally:
        supervisor.stop()


def stack_file(config: StackConfig, data: bytes, key: str) -> tuple[float, float, bytes]:
    """Upload `key` through the access point and wait until its main orchestrator execution
    in the active region has succeeded; returns (execution seconds, upload-to-COMPLETED
    seconds, output bytes)."""
    region = config.regions[0]  # a new stack starts with its first region active
    started = time.perf_counter()
    access_point_client(config).put_object(Bucket=config.bucket_alias, Key=key, Body=data)
    file_id = naming.file_id(key, open_region_store(config, region).head(key).version_id)
    found: list[tuple[str, float, float]] = []

    def finished() -> bool:
        with sqlite3.connect(config.workflows_db(region)) as db:
            found[:] = db.execute(
                "SELECT status, start_date, stop_date FROM executions WHERE status != 'RUNNING'"
                " AND state_machine_arn LIKE '%:main_orchestrator' AND input LIKE ?",
                (f'%"{file_id}"%',),
            ).fetchall()
        return bool(found)

    wait_until(finished, timeout=120, interval=0.005, what=f"{key} to complete")
    end_to_end = time.perf_counter() - started
    (status, start, stop), *_ = found
    assert status == "SUCCEEDED", found
    output = open_region_store(config, region).get_bytes(naming.output_key(key))
    return stop - start, end_to_end, output


def stack_rows(root: Path, source: Path, fin: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Row 4: the same file through a real region process, `--repeat` times."""
    data = source.read_bytes()
    with running_stack(root, fin, args.chunk_size) as config:
        stack_file(config, data, "input/warm-up.csv")
        runs = [stack_file(config, data, f"input/stack-{i}.csv") for i in range(args.repeat)]
    return {
        "region": (statistics.median(r[0] for r in runs), None, runs[-1][2]),
        "region-e2e": (statistics.median(r[1] for r in runs), None, runs[-1][2]),
    }


def per_record_rows(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Row 5: the per-record processor on a smaller file, with its own baseline."""
    small, fin = write_sample_files(root / "small", "bench", args.per_record_rows, 3, 0.05)
    rules, source = load_rules(), CsvFinancialSource.from_path(fin)
    base = timed(lambda _: direct(small, rules, source, 100), args.repeat)
    with LocalRun(root / "per-record", fin, chunk_size=100, per_record=True) as run:
        flow = timed(lambda i: orchestrated(run, small, f"input/pr-{i}.csv"), 1)
    return {"small-base": base, "per-record": flow}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--per-record-rows", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-stack", action="store_true", help="skip the region-process row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, fin = write_sample_files(root, "bench", args.rows, 3, 0.05)
        rules, financials = load_rules(), CsvFinancialSource.from_path(fin)
        direct(source, rules, financials, args.chunk_size)  # warm up, as the workflows do
        rows = {
            "base": timed(
                lambda _: direct(source, rules, financials, args.chunk_size), args.repeat
            ),
            **in_process_rows(root, source, fin, args),
            **({} if args.no_stack else stack_rows(root, source, fin, args)),
            **per_record_rows(root, args),
        }
    report(rows, args)


LABELS = [
    ("base", "pipeline called directly (baseline)", "base"),
    ("handlers", "step handlers in sequence, no engine", "base"),
    ("workflow", "main orchestrator, batched, in process", "base"),
    ("region", "main orchestrator, batched, region process", "base"),
    ("region-e2e", "  upload to done, region process", "base"),
    ("setup", "LocalRun open + close (once per process)", None),
    ("small-base", "pipeline called directly (baseline)", "small-base"),
    ("per-record", "main orchestrator, per-record processor", "small-base"),
]


def report(rows: dict[str, Timing], args: argparse.Namespace) -> None:
    """Print the table and check every workflow's output against its baseline's."""
    for name, against in (("handlers", "base"), ("workflow", "base"), ("region", "base")):
        if name in rows:
            assert rows[name][2] == rows[against][2], f"{name}: output differs from the pipeline's"
    assert rows["per-record"][2] == rows["small-base"][2], "per-record: output differs"
    print(f"{'what':<46}{'rows':>7}{'seconds':>9}{'cpu':>8}{'ratio':>7}")
    for name, label, base in LABELS:
        if name not in rows:
            continue
        seconds, cpu, _ = rows[name]
        count = args.per_record_rows if base == "small-base" else args.rows
        ratio = f"{seconds / rows[base][0]:>7.2f}" if base else f"{'':>7}"
        cpu_text = "-" if cpu is None else f"{cpu:.3f}"
        print(f"{label:<46}{count:>7}{seconds:>9.3f}{cpu_text:>8}{ratio}")
    print("outputs identical to the pipeline's")


if __name__ == "__main__":
    main()
