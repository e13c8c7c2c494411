"""`mrbatch run-local`: run the main orchestrator over one file, before any region exists.

    mrbatch run-local input.csv --financials input_financial_data.csv [--per-record]

Everything lives in the data directory (default `.mrbatch/run-local`): the object store,
the tables, the workflow database, the mail sink's .eml files, and plain copies of the
output and errors objects under `files/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mrbatch.errors import ConfigError
from mrbatch.model import DEFAULT_CHUNK_SIZE

if TYPE_CHECKING:
    from mrbatch.runtime.operations.local_run import RunOutcome

__all__ = ["DEFAULT_DATA_DIR", "register"]

DEFAULT_DATA_DIR = Path(".mrbatch") / "run-local"


def register(app: typer.Typer) -> None:
    """Add `run-local` to `app`."""
    app.command("run-local")(run_local)


def run_local(
    input: Annotated[Path, typer.Argument(help="The input CSV file.")],
    financials: Annotated[
        Path | None,
        typer.Option(
            "--financials", help="Financial-data CSV (default: <input>_financial_data.csv)."
        ),
    ] = None,
    per_record: Annotated[
        bool, typer.Option("--per-record", help="Use the per-record chunk processor.")
    ] = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Records per chunk.")
    ] = DEFAULT_CHUNK_SIZE,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the local region keeps its state.")
    ] = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Run the main orchestrator over INPUT in a local directory-backed region."""
    fin = financials or input.with_name(f"{input.stem}_financial_data.csv")
    for path, what in ((input, "input"), (fin, "financial-data")):
        if not path.is_file():
            raise ConfigError(f"the {what} file {path} does not exist")
    from mrbatch.runtime.operations.local_run import (
        LocalRun,  # the engine and services: only when run
    )

    with LocalRun(data_dir, fin, chunk_size=chunk_size, per_record=per_record) as run:
        outcome = run.process(input)
    if as_json:
        typer.echo(json.dumps(outcome.as_dict()))
    else:
        typer.echo(_describe(outcome))
        # its own workflow database, not the `workflow run`/`executions` default one
        typer.echo(f"executions: mrbatch executions list --db {data_dir / 'workflows.db'}")
    if outcome.status != "SUCCEEDED":
        raise typer.Exit(1)


def _describe(outcome: RunOutcome) -> str:
    lines = [f"status: {outcome.status} ({outcome.seconds} s)", f"file id: {outcome.file_id}"]
    if outcome.counts is not None:
        counts = ", ".join(f"{name} {value}" for name, value in outcome.counts.items())
        lines += [
            f"output key: {outcome.output_key}",
            f"errors key: {outcome.errors_key}",
            f"counts: {counts}",
            f"output file: {outcome.output_file}",
            f"errors file: {outcome.errors_file}",
        ]
    if outcome.error is not None:
        lines.append(f"error: {outcome.error}: {outcome.cause}")
    return "\n".join(lines)
