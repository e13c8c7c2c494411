"""`mrbatch aws ...`: deploy an environment to two regions, operate it, destroy it.

Each command is a thin shell over `mrbatch.aws.deploy`; progress is printed line by line.
`deploy --dry-run` renders every template and prints the plan without credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

aws_app = typer.Typer(help="The AWS target: deploy, operate and destroy (docs/aws-deploy.md).",
                      no_args_is_help=True)  # fmt: skip
chaos_app = typer.Typer(help="AWS FIS experiments that cut a region off S3 or DynamoDB.",
                        no_args_is_help=True)  # fmt: skip
aws_app.add_typer(chaos_app, name="chaos")
financials_app = typer.Typer(help="The financial global table rows are enriched with.",
                             no_args_is_help=True)  # fmt: skip
aws_app.add_typer(financials_app, name="financials")

Env = Annotated[str, typer.Option("--env", help="Environment name (names derive from it).")]
Primary = Annotated[str, typer.Option("--primary", help="Primary region.")]
Secondary = Annotated[str, typer.Option("--secondary", help="Secondary region.")]
ViaRegion = Annotated[
    str | None, typer.Option("--region", help="This region (default: the active one).")
]


def register(app: typer.Typer) -> None:
    """Add the `aws` command group to `app`."""
    app.add_typer(aws_app, name="aws")


def _deployment(env: str, primary: str, secondary: str, **more: Any) -> Any:
    from mrbatch.aws.deploy.plan import Deployment

    return Deployment(env, primary, secondary, **more)


def _clients() -> Any:
    import boto3

    def make(service: str, region: str) -> Any:
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]

    return make


@aws_app.command("deploy")
def deploy(
    env: Env,
    primary: Primary,
    secondary: Secondary,
    ses_identity: Annotated[str, typer.Option(help="Address to verify with SES.")] = "",
    recipients: Annotated[str, typer.Option(help="Who gets the emails (comma-separated).")] = "",
    witness: Annotated[str, typer.Option(help="Witness region of the routing table.")] = "",
    build: Annotated[Path, typer.Option(help="make lambda-build's output.")] = Path("build/lambda"),
    chaos: Annotated[bool, typer.Option(help="Deploy the chaos stacks instead.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Render and print the plan only.")] = False,
) -> None:
    """Deploy (or update) every stack, in order, with change sets; safe to re-run."""
    from mrbatch.aws.deploy.orchestrate import deploy as apply
    from mrbatch.aws.deploy.orchestrate import render_plan

    d = _deployment(env, primary, secondary, ses_identity=ses_identity,
                    recipients=recipients, witness=witness)  # fmt: skip
    if dry_run:
        out = Path("build") / "aws" / env
        for number, stack in enumerate(render_plan(d, out, chaos=chaos), 1):
            typer.echo(f"{number:2}. {d.stack_name(stack.template)} in {stack.region}"
                       f" ({stack.step or stack.template}) {stack.parameters}")  # fmt: skip
        typer.echo(f"templates rendered into {out}")
        return
    changed = apply(d, _clients(), build, typer.echo, chaos=chaos)
    typer.echo(f"done: {len(changed)} stack(s) changed")


@aws_app.command("destroy")
def destroy(
    env: Env,
    primary: Primary,
    secondary: Secondary,
    chaos_only: Annotated[bool, typer.Option(help="Only the chaos stacks.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete every stack in reverse order (buckets emptied first: the data goes too)."""
    from mrbatch.aws.deploy.orchestrate import destroy as remove

    d = _deployment(env, primary, secondary)
    what = "the chaos stacks" if chaos_only else "every stack and every stored file"
    if not yes and not typer.confirm(f"delete {what} of environment {env}?"):
        raise typer.Exit(1)
    remove(d, _clients(), typer.echo, chaos_only=chaos_only)


@aws_app.command("status")
def status(env: Env, primary: Primary, secondary: Secondary) -> None:
    """Every stack's status and the active region with its epoch."""
    from mrbatch.aws.deploy.actions import current_epoch
    from mrbatch.aws.deploy.orchestrate import status as stacks

    d = _deployment(env, primary, secondary)
    clients = _clients()
    for name, region, state in stacks(d, clients):
        typer.echo(f"{name:32} {region:12} {state}")
    region, epoch = current_epoch(clients("dynamodb", primary), d)
    typer.echo(f"active region: {region} (epoch {epoch})")


def _switch(env: str, primary: str, secondary: str, target: str, reason: str) -> None:
    from mrbatch.aws.deploy.actions import current_epoch, run_runbook

    d = _deployment(env, primary, secondary)
    clients = _clients()
    active, epoch = current_epoch(clients("dynamodb", target), d)
    typer.echo(f"active now: {active} (epoch {epoch})")
    run_runbook(clients("ssm", target), d, target, epoch, reason, typer.echo)


@aws_app.command("failover")
def failover(env: Env, primary: Primary, secondary: Secondary) -> None:
    """Make the secondary region active (the runbook runs there, the region still up)."""
    _switch(env, primary, secondary, secondary, "failover")


@aws_app.command("failback")
def failback(env: Env, primary: Primary, secondary: Secondary) -> None:
    """Make the primary region active again."""
    _switch(env, primary, secondary, primary, "failback")


@chaos_app.command("start")
def chaos_start(
    env: Env,
    primary: Primary,
    secondary: Secondary,
    region: Annotated[str, typer.Option(help="The region to cut off.")],
    scope: Annotated[str, typer.Option(help="s3 or dynamodb.")] = "s3",
) -> None:
    """Start the experiment that cuts REGION's functions off SCOPE."""
    from mrbatch.aws.deploy.actions import start_chaos

    clients = _clients()
    d = _deployment(env, primary, secondary)
    start_chaos(clients("cloudformation", region), clients("fis", region), d, scope, typer.echo)


@chaos_app.command("stop")
def chaos_stop(
    env: Env,
    primary: Primary,
    secondary: Secondary,
    region: Annotated[str, typer.Option(help="The region the experiment runs in.")],
) -> None:
    """Stop this environment's running experiments in REGION."""
    from mrbatch.aws.deploy.actions import stop_chaos

    clients = _clients()
    d = _deployment(env, primary, secondary)
    stop_chaos(clients("cloudformation", region), clients("fis", region), d, typer.echo)


@financials_app.command("load")
def financials_load(
    file: Annotated[Path, typer.Argument(help="Financial-data CSV (the sample's columns).")],
    env: Env,
    primary: Primary,
    secondary: Secondary,
    region: ViaRegion = None,
) -> None:
    """Check FILE whole, then load it into the financial global table in batches.

    Rows merge by uuid: a uuid already loaded takes the file's values, other uuids stay.
    Safe to re-run. The global table copies the rows to the other region.
    """
    from mrbatch.aws.deploy.data import load_financials

    d = _deployment(env, primary, secondary)
    report = load_financials(_clients(), d, file, typer.echo, region=region)
    typer.echo(
        f"loaded {report.rows:,} financial rows from {file} into {report.table} through"
        f" {report.region} in {report.seconds:.1f} s (merged by uuid)"
    )


@aws_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The input CSV to process.")],
    env: Env,
    primary: Primary,
    secondary: Secondary,
    key: Annotated[str | None, typer.Option(help="Object key (default input/<name>).")] = None,
    region: Annotated[
        str | None,
        typer.Option(help="Upload into this region's bucket (default: the access point)."),
    ] = None,
) -> None:
    """Upload FILE through the Multi-Region Access Point (or into one region's bucket);
    the bucket's event starts its work. Prints the file id (key#version)."""
    from mrbatch.aws.deploy.data import submit_file

    d = _deployment(env, primary, secondary)
    submitted = submit_file(_clients(), d, file, typer.echo, key=key, region=region)
    typer.echo(submitted.file_id)
