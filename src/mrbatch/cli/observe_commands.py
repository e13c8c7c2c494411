"""`mrbatch dashboard` and `mrbatch logs`: watching a stack.

The dashboard is served by the stack's gateway (see `mrbatch.dashboard`); this command
finds its URL and opens it. `logs` reads the JSON logs every process writes
(`mrbatch.runtime.jsonlog`).
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag, running_config

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("dashboard")(dashboard)
    app.command("logs")(logs)


def dashboard(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open it in the default web browser.")
    ] = True,
) -> None:
    """Print the running stack's dashboard URL (127.0.0.1 only) and open it."""
    import webbrowser

    from mrbatch.runtime.wiring import read_endpoints

    config = running_config(data_dir, "access point", "there is no dashboard to open")
    url = f"{read_endpoints(config)['gateway']}/dashboard/"
    typer.echo(url)
    if open_browser:
        webbrowser.open(url)


def logs(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    region: Annotated[str | None, typer.Option("--region", help="Only this region.")] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only lines about this file (name or id).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this long ago (10m, 2h) or ISO time.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every process's log lines, oldest first: readable by default, `--json` raw."""
    from mrbatch.runtime.config import StackConfig
    from mrbatch.runtime.jsonlog import format_line, parse_since, read_logs

    config = StackConfig.load(data_dir.resolve())  # a directory without a stack: its own line
    if region is not None:
        config.check_region(region)
    start = parse_since(since, time.time()) if since is not None else None
    entries = read_logs(config.data_dir, region=region, file_id=file, since=start, follow=follow)
    printed = 0
    try:
        for entry in entries:
            typer.echo(json.dumps(entry) if as_json else format_line(entry))
            printed += 1
    except KeyboardInterrupt:  # --follow ends with Ctrl-C
        raise typer.Exit() from None
    if not printed and not as_json:  # silence would look like a broken command
        typer.echo(f"no log line in {config.data_dir} matches", err=True)
