"""`mrbatch financials load FILE`: the financial data a stack enriches rows with.

The AWS sample loads its financial table once, with a script, before any file is sent;
this is that step for a local stack (running or not: the tables are files).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag
from mrbatch.errors import ConfigError
from mrbatch.runtime.config import StackConfig

financials_app = typer.Typer(
    help="The financial data rows are enriched with (a global table on AWS).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `financials` command group to `app`."""
    app.add_typer(financials_app, name="financials")


@financials_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Financial-data CSV (the sample's columns).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Check FILE whole, then load it into the active region's financial table.

    Rows merge by uuid: a uuid already loaded takes the file's values, other uuids stay.
    Safe to re-run. Table replication copies the rows to the other region.
    """
    from mrbatch.runtime.operations.financials import BATCH_ROWS, load_financials_file

    if not file.is_file():
        raise ConfigError(f"{file}: no such file")
    config = StackConfig.load(data_dir.resolve())
    with _progress_bar(enabled=not as_json and sys.stderr.isatty()) as progress:
        report = load_financials_file(config, file, progress=progress)
    if as_json:
        typer.echo(json.dumps({"region": report.region, "rows": report.rows,
                               "last_uuid": report.last_uuid,
                               "seconds": report.seconds}))  # fmt: skip
        return
    typer.echo(
        f"loaded {report.rows:,} financial rows from {file} into {report.region}"
        f" in {report.seconds:.1f} s (merged by uuid, committed {BATCH_ROWS:,} rows at a"
        f" time); {_replication_note(config)}"
    )


def _replication_note(config: StackConfig) -> str:
    """When the rows reach the other region: now, or once the stack (its replicator) runs."""
    from mrbatch.runtime.services.supervision import running_stack_record

    if running_stack_record(config.data_dir) is not None:
        return "replication copies them to the other region"
    return (
        "the stack is not running, so the other region gets them once"
        f" `mrbatch up --detach --data-dir {config.data_dir}` starts it"
    )


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr fed by the load's progress calls; on a terminal only
    (a log or a pipe gets the one closing line, not a redrawn bar)."""
    if not enabled:
        yield lambda written, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress("checking, then loading", *columns, transient=True) as bar:
        task = bar.add_task("load", total=None)
        yield lambda written, total: bar.update(task, completed=written, total=total)
