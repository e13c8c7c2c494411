"""`mrbatch financials load FILE`: the financial data a stack enriches rows with.

The AWS sample loads its financial table once, with a script, before any file is sent;
this is that step for a local stack (running or not: the tables are files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag
from mrbatch.errors import ConfigError

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
    from mrbatch.runtime.config import StackConfig
    from mrbatch.runtime.operations.financials import load_financials_file

    if not file.is_file():
        raise ConfigError(f"{file}: no such file")
    config = StackConfig.load(data_dir.resolve())
    step = 100_000
    shown = [0]

    def progress(rows: int) -> None:
        if not as_json and rows >= shown[0] + step:
            shown[0] = rows - rows % step
            typer.echo(f"  {rows:,} rows loaded ...")

    report = load_financials_file(config, file, progress=progress)
    if as_json:
        typer.echo(json.dumps({"region": report.region, "rows": report.rows,
                               "seconds": report.seconds}))  # fmt: skip
        return
    typer.echo(
        f"loaded {report.rows:,} financial rows from {file} into {report.region}"
        f" in {report.seconds:.1f} s (merged by uuid); replication copies them to the"
        " other region"
    )
