"""`mrbatch chaos ...`, `mrbatch loadtest` and `mrbatch torture`: break a stack on purpose
and check that it keeps its contract. Options and printing only; the work is in
`mrbatch.runtime.operations` (chaos, loadtest, torture)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mrbatch.cli.runbook_commands import parse_duration
from mrbatch.cli.stack_commands import DEFAULT_DATA_DIR, DataDir, JsonFlag, running_config

chaos_app = typer.Typer(
    help="Chaos experiments on a running stack; each is recorded and shown on the dashboard.",
    no_args_is_help=True,
)

Region = Annotated[str, typer.Option("--region", help="The region to break.")]
Duration = Annotated[str, typer.Option("--duration", help="How long, e.g. 30s, 2m.")]


def register(app: typer.Typer) -> None:
    """Add `chaos`, `loadtest` and `torture` to `app`."""
    app.add_typer(chaos_app, name="chaos")
    app.command("loadtest")(loadtest)
    app.command("torture")(torture)


def _config(data_dir: Any) -> Any:
    from mrbatch.runtime.config import StackConfig

    return StackConfig.load(data_dir.resolve())


def _running_region(data_dir: Any, region: str, why: str) -> Any:
    """The running stack's settings, for an experiment on one of its regions."""
    _config(data_dir).check_region(region)
    return running_config(data_dir, f"region {region}", why)


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

    config = _running_region(data_dir, region, "there is nothing to cut off")
    _show(chaos.block(config, region, target, parse_duration(duration), mode=mode), as_json)


@chaos_app.command("heal")
def heal(
    experiment: Annotated[
        int | None,
        typer.Option("--id", help="End only this experiment's blocks (see `chaos list`)."),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """End blocks now instead of at their end time (all of them, or one experiment's), as
    stopping an FIS experiment does."""
    from mrbatch.runtime.operations import chaos

    ended = chaos.heal(_config(data_dir), experiment)
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in ended], indent=2))
        return
    if not ended:
        typer.echo("no block is in force")
    for e in ended:
        typer.echo(f"experiment {e.id} ended: {e.kind} {e.target} {e.detail}")


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
    config = running_config(data_dir, "replicator", "there is no replication to slow or stop")
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

    config = _running_region(data_dir, region, "no change feed would deliver the events")
    _show(chaos.duplicate_events(config, region), as_json)


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


def loadtest(
    files: Annotated[int, typer.Option("--files", min=1, help="How many files to upload.")] = 10,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds between uploads (0: no pause).")
    ] = 0.0,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows per file.")] = 100,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Uploaders.")] = 4,
    chaos: Annotated[
        str | None,
        typer.Option("--chaos", help="A fault schedule, e.g. '2:kill:us-east-1,4:failover'."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for quiescence.")
    ] = 600.0,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonFlag = False,
) -> None:
    """Upload N files through the access point, wait for all, run the checker; print files/s,
    rows/s, upload->email latency (p50/p90/p99) and the verdict. Exits 1 on a violation.

    It works on the running stack of --data-dir, not a fresh one: it first loads a generated
    sample's financial data into it (merged by uuid), and its files, outputs and emails stay
    there. Use a stack of its own to keep yours clean."""
    import tempfile
    from pathlib import Path

    from mrbatch.runtime.operations.loadtest import run_loadtest

    config = running_config(data_dir, "access point", "nothing can be uploaded")
    say = (lambda _: None) if as_json else typer.echo
    with tempfile.TemporaryDirectory(prefix="mrbatch-loadtest-") as scratch:
        report = run_loadtest(
            config, Path(scratch), files=files, wait=wait, rows=rows,
            concurrency=concurrency, chaos=chaos, timeout=timeout, say=say,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_load(report)
    if not report.passed:
        raise typer.Exit(1)


def _print_load(report: Any) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    rates = f"{report.files_per_second:.2f} files/s, {report.rows_per_second:.0f} rows/s"
    typer.echo(f"{report.files} files, {report.rows} rows in {report.seconds:.1f} s: {rates}")
    typer.echo(
        f"upload -> email latency: p50 {ms(report.latency_p50)},"
        f" p90 {ms(report.latency_p90)}, p99 {ms(report.latency_p99)}"
    )
    for outcome in report.chaos:
        typer.echo(f"chaos {outcome}")
    if not report.quiet:
        typer.echo("verdict: HANG (the stack did not quiesce before the timeout)")
    elif report.violations:
        typer.echo(f"verdict: {len(report.violations)} violation(s)")
        for v in report.violations:
            typer.echo(f"  {v['kind']:<8} {v['file_id']}: {v['detail']}")
    else:
        typer.echo("verdict: no violation of the contract")


def torture(
    seed: Annotated[int, typer.Option("--seed", help="Seed of the run.")] = 1,
    schedules: Annotated[int, typer.Option("--schedules", min=1, help="How many.")] = 10,
    files: Annotated[int, typer.Option("--files", min=1, help="Uploads per schedule.")] = 5,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows per file.")] = 100,
    replay: Annotated[
        int | None, typer.Option("--replay", help="Run only the schedule of this seed.")
    ] = None,
    deadline: Annotated[
        float, typer.Option("--deadline", help="Seconds to quiesce before it counts as a hang.")
    ] = 180.0,
    as_json: JsonFlag = False,
) -> None:
    """Randomized fault schedules, each on a fresh stack, each judged by the checker. Every
    failing schedule prints its seed (replay it with --replay SEED). Exits 1 on a failure."""
    from mrbatch.runtime.operations.torture import run_torture

    say = (lambda _: None) if as_json else typer.echo
    results = run_torture(seed, schedules, files=files, rows=rows, replay=replay,
                          deadline=deadline, say=say)  # fmt: skip
    failed = [r for r in results if not r.passed]
    quiet = [r.quiet_seconds for r in results if r.quiet_seconds is not None]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        typer.echo(f"{len(results)} schedule(s), {len(failed)} failed,"
                   f" longest time to quiescence {max(quiet, default=0):.1f} s")  # fmt: skip
        for r in failed:
            typer.echo(f"failed: --replay {r.plan.seed}")
    if failed:
        raise typer.Exit(1)
