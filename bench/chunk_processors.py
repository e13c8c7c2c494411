"""The chunk processors through the main orchestrator against the pipeline called directly.

    .venv/bin/python bench/chunk_processors.py [--rows N] [--chunk-size N] [--per-record-rows N]

Baseline (same process, same data): split the file and call `process_chunk` on every chunk,
then merge — the work the batched workflow does, without the workflow. Then the whole main
orchestrator (`LocalRun`: split, Map of chunk executions, merge, email) with the batched
processor, and with the per-record processor on a smaller file (it is ~1,000x slower by
design: one state per record, as the AWS sample). Checks the outputs are identical.
Target (issue 3): the batched processor within 1.5x of the direct pipeline.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mrbatch.cli.run_local import LocalRun
from mrbatch.pipeline import (
    CsvFinancialSource,
    load_rules,
    merge,
    output_header,
    process_chunk,
    read_header,
    split,
)
from mrbatch.pipeline.sample import write_sample_files


def direct(source: Path, financials: Path, chunk_size: int) -> bytes:
    rules, fin = load_rules(), CsvFinancialSource.from_path(financials)
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


def workflow(
    work: Path, source: Path, financials: Path, chunk_size: int, per_record: bool
) -> bytes:
    with LocalRun(work, financials, chunk_size=chunk_size, per_record=per_record) as run:
        outcome = run.process(source)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output_file
    return Path(outcome.output_file).read_bytes()


def timed(fn: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    times, result = [], b""
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--per-record-rows", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, fin = write_sample_files(root, "bench", args.rows, 3, 0.05)
        small, small_fin = write_sample_files(
            root / "small", "bench", args.per_record_rows, 3, 0.05
        )
        base, expected = timed(lambda: direct(source, fin, args.chunk_size), args.repeat)
        runs = iter(range(10_000))
        batched, got = timed(
            lambda: workflow(root / f"b{next(runs)}", source, fin, args.chunk_size, False),
            args.repeat,
        )
        assert got == expected, "the batched workflow's output differs from the pipeline's"
        small_base, small_expected = timed(lambda: direct(small, small_fin, 100), 1)
        per_record, got = timed(lambda: workflow(root / "p", small, small_fin, 100, True), 1)
        assert got == small_expected, "the per-record workflow's output differs"
    print(f"{'what':<44}{'rows':>8}{'seconds':>10}{'ratio':>8}")
    print(f"{'pipeline called directly (baseline)':<44}{args.rows:>8}{base:>10.3f}{1:>8.2f}")
    print(f"{'main orchestrator, batched processor':<44}{args.rows:>8}{batched:>10.3f}"
          f"{batched / base:>8.2f}")  # fmt: skip
    print(f"{'pipeline called directly (baseline)':<44}{args.per_record_rows:>8}"
          f"{small_base:>10.3f}{1:>8.2f}")  # fmt: skip
    print(f"{'main orchestrator, per-record processor':<44}{args.per_record_rows:>8}"
          f"{per_record:>10.3f}{per_record / small_base:>8.2f}")  # fmt: skip
    print("outputs identical to the pipeline's")


if __name__ == "__main__":
    main()
