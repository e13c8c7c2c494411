"""`mrbatch chaos ...`, `mrbatch loadtest` and `mrbatch torture`: break a stack on purpose
and check that it keeps its contract. Options and printing only; the work is in
`mrbatch.runtime.operations` (chaos, loadtest, torture)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mrbatch.cli.runbook_commands import parse_duration
from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag

chaos_app = typer.Typer(
    help="Chaos experiments on a running stack; each is recorded and shown on the dashboard.",
    no_args_is_help=True,
)

Region = Annotated[str, typer.Option("--region", help="The region to break.")]
Duration = Annotated[str, typer.Option("--duration", help="How long, e.g. 30s, 2m.")]


def register(app: typer.Typer) -> None:
    """Add `chaos`, `loadtest` and `torture` to `app`."""
    app.add_typer(chaos_app, name="chaos")


def _config(data_dir: Any) -> Any:
    from mrbatch.runtime.config import StackConfig

    return StackConfig.load(data_dir.resolve())


def _show(experiment: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(experiment.as_dict(), indent=2))
        return
    typer.echo(f"experiment {experiment.id}: {experiment.kind} {experiment.target}")
    if experiment.detail:
        typer.echo(f"  {experiment.detail}")


@chaos_app.command("block")
def block(
    region: Region,
    target: Annotated[
        str, typer.Option("--target", help="objects, tables, api, smtp or all.")
    ] = "all",
    duration: Duration = "30s",
    mode: Annotated[
        str,
        typer.Option("--mode", help="error: refused at once; timeout: hang, then fail."),
    ] = "error",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Cut the region off a dependency for the duration; it recovers by itself after."""
    from mrbatch.runtime.operations import chaos

    config = _config(data_dir)
    _show(chaos.block(config, region, target, parse_duration(duration), mode=mode), as_json)


@chaos_app.command("kill")
def kill(
    service: Annotated[
        str, typer.Option("--region", help="A region, replicator, gateway or mail.")
    ],
    main_only: Annotated[
        bool, typer.Option("--main-only", help="Kill the main process only, not its workers.")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """SIGKILL a service; the supervisor of `mrbatch up` restarts it (with
    --auto-failover, a killed active region is failed over)."""
    from mrbatch.runtime.operations import chaos

    _show(chaos.kill(_config(data_dir), service, main_only=main_only), as_json)


@chaos_app.command("pause")
def pause(
    service: Annotated[
        str, typer.Option("--region", help="A region, replicator, gateway or mail.")
    ],
    duration: Duration = "10s",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Freeze a service (SIGSTOP) for the duration, then let it go on (SIGCONT). The
    command waits for the duration; interrupting it resumes the service at once."""
    from mrbatch.runtime.operations import chaos

    _show(chaos.pause(_config(data_dir), service, parse_duration(duration)), as_json)


@chaos_app.command("replication")
def replication(
    delay: Annotated[
        str | None,
        typer.Option("--delay", help="Every change waits this long before it replicates (0: off)."),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option("--stop", help="Nothing replicates for this long (a partition)."),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Slow replication down (--delay, until set back to 0) or stop it for a while (--stop;
    the command waits, and replication flows again even if it is interrupted)."""
    from mrbatch.errors import ConfigError
    from mrbatch.runtime.operations import chaos

    if (delay is None) == (stop is None):
        raise ConfigError("give exactly one of --delay and --stop")
    config = _config(data_dir)
    if delay is not None:
        _show(chaos.replication_delay(config, parse_duration(delay)), as_json)
    else:
        assert stop is not None
        _show(chaos.replication_stop(config, parse_duration(stop)), as_json)


@chaos_app.command("duplicate-events")
def duplicate_events(
    region: Region,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Announce the region's input objects again on its change feed (duplicate events)."""
    from mrbatch.runtime.operations import chaos

    _show(chaos.duplicate_events(_config(data_dir), region), as_json)


@chaos_app.command("list")
def list_experiments(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonFlag = False) -> None:
    """The recorded experiments, newest first."""
    import time

    from mrbatch.runtime.operations.experiments import ChaosLog

    log = ChaosLog(_config(data_dir))
    try:
        experiments = log.experiments()
    finally:
        log.close()
    now = time.time()
    if as_json:
        typer.echo(json.dumps([e.as_dict(now) for e in experiments], indent=2))
        return
    for e in experiments:
        state = "in force" if e.in_force(now) else "ended"
        typer.echo(f"{e.id:>4} {e.kind:<18} {e.target:<12} {state:<8} {e.detail}")
