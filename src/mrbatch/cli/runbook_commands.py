"""`mrbatch failover`, `failback` and `runbooks`: move the work between regions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir
from mrbatch.errors import ConfigError
from mrbatch.runtime.config import StackConfig

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("failover")(failover)
    app.command("failback")(failback)
    app.command("runbooks")(runbooks)
    app.command("drill")(drill)


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `1h`, `500ms` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _run(kind: str, data_dir: Path, to: str | None, reason: str, max_wait: str | None,
         as_json: bool) -> None:  # fmt: skip
    from mrbatch.runtime.operations.runbook import run_runbook

    config = StackConfig.load(data_dir.resolve())
    result = run_runbook(
        config,
        kind=kind,
        target=to,
        reason=reason,
        max_wait=parse_duration(max_wait) if max_wait else None,
        say=(lambda _: None) if as_json else typer.echo,
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))


Target = Annotated[str | None, typer.Option("--to", help="Target region (default: the other).")]
Reason = Annotated[str, typer.Option(help="Why; recorded with the routing change.")]
MaxWait = Annotated[
    str | None,
    typer.Option(help="Bound on the wait for replication, e.g. 90s, 15m (default: the SLA)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def failover(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    to: Target = None,
    reason: Reason = "failover",
    max_wait: MaxWait = None,
    as_json: AsJson = False,
) -> None:
    """Make the standby region active, wait for replication, re-drive unfinished files."""
    _run("failover", data_dir, to, reason, max_wait, as_json)


def failback(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    to: Target = None,
    reason: Reason = "failback",
    max_wait: MaxWait = None,
    as_json: AsJson = False,
) -> None:
    """The same runbook in the other direction: move the work back."""
    _run("failback", data_dir, to, reason, max_wait, as_json)


def runbooks(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Runbook executions (newest first) and their steps, with status and timings."""
    from mrbatch.runtime.operations.runbook import RunbookLog

    runs = RunbookLog(StackConfig.load(data_dir.resolve())).executions()
    if as_json:
        typer.echo(json.dumps(runs, indent=2, sort_keys=True))
        return
    if not runs:
        typer.echo("no runbook executions yet")
    for run in runs:
        typer.echo(f"{run['id']}  {run['kind']:<8} {run['source']} -> {run['target']}  "
                   f"{run['status']}  ({run['reason']})")  # fmt: skip
        for step in run["steps"]:
            took = (step["ended_at"] or step["started_at"]) - step["started_at"]
            typer.echo(f"    {step['position']}. {step['name']:<20} {step['status']:<10} "
                       f"{took:7.2f} s  {json.dumps(step['detail'])}")  # fmt: skip


def drill(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Fresh directory for the drill's stack (wiped).")
    ] = DEFAULT_DATA_DIR / "drill",
    files: Annotated[int, typer.Option("--files", min=1, help="Files to upload.")] = 20,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows per file.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fail over mid-processing and back on a fresh stack; check nothing is lost or doubled.

    Prints RTO (failover to first completion in the new region, and to the last re-driven
    file) and RPO (files lost), and exits non-zero if an invariant is violated.
    """
    from mrbatch.cli.stack_commands import refuse_running_stack
    from mrbatch.runtime.operations.drill import run_drill

    refuse_running_stack(data_dir, "drill")
    report = run_drill(
        data_dir, files=files, rows=rows, say=(lambda _: None) if as_json else typer.echo
    )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        typer.echo("")
        typer.echo(f"files               {report.files} x {report.rows_per_file} rows")
        typer.echo(f"in flight at flip   {report.in_flight_at_failover}")
        typer.echo(f"re-driven           {report.redriven} (missing at reconcile: "
                   f"{report.missing_at_reconcile})")  # fmt: skip
        typer.echo(f"RTO first / all     {report.rto_first_completion_seconds} s / "
                   f"{report.rto_all_redriven_seconds} s")  # fmt: skip
        typer.echo(f"RPO (files lost)    {report.rpo_files_lost}")
        typer.echo(f"duplicate emails    {report.duplicate_emails}")
        typer.echo(f"outputs identical   {report.outputs_identical}")
        typer.echo(f"COMPLETED records   {report.completed_records}")
        typer.echo("PASSED" if report.passed else "FAILED: " + "; ".join(report.violations))
    if not report.passed:
        raise typer.Exit(1)
