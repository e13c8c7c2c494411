"""Commands over the batch pipeline: `sample` and `process`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from mrbatch.job.runner import JobOptions, JobSummary, Progress, run_job
from mrbatch.model import DEFAULT_CHUNK_SIZE
from mrbatch.pipeline.faults import parse_kinds
from mrbatch.pipeline.sample import write_sample_files


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("sample")(sample)
    app.command("process")(process)


def sample(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the two CSV files into.")],
    rows: Annotated[int, typer.Option("--rows", min=0, help="Number of data rows.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")] = 0,
    invalid_fraction: Annotated[
        float,
        typer.Option("--invalid-fraction", min=0.0, max=1.0, help="Share of rows made invalid."),
    ] = 0.0,
    name: Annotated[str, typer.Option("--name", help="Base name of the input file.")] = "testfile",
    invalid_kinds: Annotated[
        str | None,
        typer.Option(
            "--invalid-kinds",
            help="Comma-separated ways to break the invalid rows: 'all', 'schema' (every rule"
            " of the default schema, e.g. maxLength:Country), 'structural' (short-row,"
            " long-row, bad-quote, embedded-newline, non-utf8, no-financials) or single"
            " kinds. Default: the five original kinds.",
        ),
    ] = None,
) -> None:
    """Write sample input (<name>.csv) and financial data (<name>_financial_data.csv)."""
    kinds = () if invalid_kinds is None else parse_kinds(invalid_kinds)
    data_path, fin_path = write_sample_files(out, name, rows, seed, invalid_fraction, kinds)
    typer.echo(f"wrote {data_path} ({rows} rows) and {fin_path}")


def process(
    input: Annotated[Path, typer.Argument(help="The input CSV file.")],
    financials: Annotated[Path, typer.Option("--financials", help="The financial-data CSV.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the output and errors CSV.")],
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Records per chunk.")
    ] = DEFAULT_CHUNK_SIZE,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Worker processes; 0: one per CPU.")
    ] = 0,
    schema: Annotated[
        Path | None, typer.Option("--schema", help="JSON Schema file for rows.")
    ] = None,
    delimiter: Annotated[str, typer.Option("--delimiter", help="Input field delimiter.")] = ",",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
) -> None:
    """Split, validate, enrich and merge INPUT into OUT/<name>.csv and OUT/<name>.errors.csv."""
    options = JobOptions(chunk_size, workers or None, schema, delimiter)
    with _progress(enabled=not as_json) as progress:
        summary = run_job(input, financials, out, options=options, progress=progress)
    _print_summary(summary, as_json)


def _print_summary(summary: JobSummary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), sort_keys=True))
        return
    typer.echo(
        f"{summary.input}: {summary.rows_read} rows read, {summary.rows_written} written, "
        f"{summary.rows_invalid} invalid, {summary.rows_not_enriched} not enriched; "
        f"{summary.chunks} chunks in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:,.0f} rows/s)"
    )
    typer.echo(f"output: {summary.output}")
    typer.echo(f"errors: {summary.errors}")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress bar on a terminal, plain lines (every 10%) otherwise, on stderr."""
    if not enabled:
        yield None
    elif sys.stderr.isatty():
        with _rich_progress() as callback:
            yield callback
    else:
        yield _plain_progress()


@contextmanager
def _rich_progress() -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        "chunks", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("chunks", total=None)

        def update(done: int, total: int, rows: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _plain_progress() -> Progress:
    reported = [-1]

    def update(done: int, total: int, rows: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != reported[0]:
            reported[0] = tenth
            print(f"chunks {done}/{total}, {rows} rows", file=sys.stderr, flush=True)

    return update
