"""`mrbatch verify`: check a stack against the correctness contract, from the outside."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag, running_config


def register(app: typer.Typer) -> None:
    """Add `verify` to `app`."""
    app.command("verify")(verify)


def verify(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
    shallow: Annotated[
        bool,
        typer.Option(
            "--shallow", help="Skip comparing each output with `mrbatch process` (faster)."
        ),
    ] = False,
) -> None:
    """Check every file version of the stack against the contract: nothing lost, one output
    and one email per completed version, outputs identical to `mrbatch process`, links that
    serve their own version, work done only by the region active under its epoch, no
    execution left running, every service up. Exits 1 on any violation.

    Run it on the running stack when it is quiet (no file in flight): an unfinished file
    counts as lost.
    """
    from mrbatch.runtime.operations.audit import verify_stack

    config = running_config(
        data_dir, "access point", "the emailed links and the services cannot be checked"
    )
    violations = verify_stack(config, deep=not shallow)
    if as_json:
        typer.echo(json.dumps({"violations": [v.as_dict() for v in violations]}, indent=2))
    elif not violations:
        typer.echo("no violation of the contract")
    for violation in [] if as_json else violations:
        typer.echo(f"{violation.kind:<8} {violation.file_id}: {violation.detail}")
    if violations:
        raise typer.Exit(1)
