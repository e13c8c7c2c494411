"""Assembles the `mrbatch` command from the command modules and runs it.

Each command module exposes a `register(app)` function; this is the one place that knows them
all. `main` turns any `MrBatchError`, and a connection failure of a command that talks to the
stack, into a clear one-line message and exit code 1, so the user never sees a traceback for
a problem mrbatch recognised.
"""

from __future__ import annotations

import sys

import typer

from mrbatch import __version__
from mrbatch.errors import MrBatchError

app = typer.Typer(
    name="mrbatch",
    help="Multi-region batch processing: split, validate, enrich and merge CSV files, "
    "and fail over between regions without losing or duplicating work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help (inherited by every sub-command): flags without a "<bool>" value,
    # option names never cut to "--max-files-in-f…", paragraphs wrapped to the terminal.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mrbatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """mrbatch: the multi-region batch pattern, runnable on one machine or on AWS."""


def _register_commands() -> None:
    # Imported here so that `mrbatch --version` stays fast and import cycles stay impossible.
    from mrbatch.cli import (
        aws_commands,
        chaos_commands,
        demo_command,
        financials_commands,
        observe_commands,
        pipeline_commands,
        run_local_commands,
        runbook_commands,
        stack_commands,
        verify_commands,
        workflow_commands,
    )

    for module in (
        demo_command,
        pipeline_commands,
        workflow_commands,
        stack_commands,
        financials_commands,
        runbook_commands,
        run_local_commands,
        observe_commands,
        verify_commands,
        chaos_commands,
        aws_commands,
    ):
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except MrBatchError as err:
        _fail(str(err))
    except Exception as err:
        # Imported only on a failure: it needs boto3 and httpx, which `--version` should not.
        from mrbatch.runtime.operations.stackinfo import unreachable_service

        message = unreachable_service(err)
        if message is None:
            raise
        _fail(message)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    sys.exit(1)


if __name__ == "__main__":
    main()
