"""`mrbatch demo`: the whole mission's happy path on a fresh local stack."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

DEMO_DIR = Path(".mrbatch") / "demo"


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("demo")(demo)


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Fresh directory for the demo stack (wiped).")
    ] = DEMO_DIR,
    rows: Annotated[int, typer.Option("--rows", min=0, help="Rows in the sample file.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the whole mission once on a fresh local stack.

    Starts both regions, uploads a sample file through the access point, waits for the
    active region to process it, reads the email, downloads the output through its
    presigned link, checks it against a direct pipeline run, and stops everything.
    """
    from mrbatch.cli.stack_commands import refuse_running_stack
    from mrbatch.runtime.operations.demo import run_demo  # the whole runtime: only when run

    refuse_running_stack(data_dir, "demo")
    say = (lambda _: None) if as_json else typer.echo
    report = run_demo(data_dir, rows=rows, say=say)
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2, sort_keys=True))
    else:
        typer.echo("")
        typer.echo(f"file        {report.input_key}: {report.status} in {report.region}")
        typer.echo(f"time        {report.seconds_to_complete:.1f} s from upload to email")
        typer.echo("rows        " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
        typer.echo(f"email       {report.email_subject}")
        check = "identical to" if report.output_matches_direct_run else "DIFFERENT from"
        typer.echo(f"output      {report.output_bytes} bytes, {check} a direct pipeline run")
    if not report.output_matches_direct_run:
        raise typer.Exit(1)
