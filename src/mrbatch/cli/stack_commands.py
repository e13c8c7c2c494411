"""Commands over a running local stack: `up`, `down`, `status`, `submit`, `files`, `mail`,
`url`.

Every command finds the stack through its data directory (`--data-dir`, default
`./.mrbatch`, or the environment variable MRBATCH_DATA_DIR).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.runtime.config import StackConfig, stack_config_file
from mrbatch.runtime.files import private_data_dir
from mrbatch.runtime.services.supervisor import dumps, read_stack_file, wait_until

# The runtime (HTTP servers, boto3, polars) is imported inside the commands that use it,
# so that `mrbatch process` and `--help` do not pay for it at start-up.

DEFAULT_DATA_DIR = Path(".mrbatch")

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="MRBATCH_DATA_DIR",
        file_okay=False,  # a file given by mistake is a usage error, not a traceback
        help="The stack's data directory (state, buckets, mail, logs).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    for name, command in (
        ("up", up),
        ("down", down),
        ("status", status),
        ("submit", submit),
        ("files", files),
        ("mail", mail),
        ("url", url),
    ):
        app.command(name)(command)


def running_config(data_dir: Path, service: str, why: str) -> StackConfig:
    """The settings of the stack in `data_dir`, which must be running: a command that needs
    one of its services fails with one line naming that service (`service`, what it would
    have done: `why`) and how to start the stack, instead of acting on a stopped stack's
    files or hanging on a connection nobody answers."""
    from mrbatch.runtime.services.supervision import running_stack_record

    config = StackConfig.load(data_dir.resolve())  # a directory without a stack: its own line
    if running_stack_record(config.data_dir) is None:
        raise MrBatchError(
            f"the {service} is down: no stack is running in {config.data_dir}, so {why};"
            f" start it with `mrbatch up --detach --data-dir {config.data_dir}`"
        )
    return config


def refuse_running_stack(data_dir: Path, command: str) -> None:
    """`command` wipes `data_dir` for a fresh stack: never the directory of a running one."""
    from mrbatch.runtime.services.supervision import running_stack_record

    directory = data_dir.resolve()
    if running_stack_record(directory) is not None:
        raise ConfigError(
            f"a stack is running in {directory}, and `mrbatch {command}` wipes its --data-dir;"
            f" give {command} another --data-dir, or stop that stack first"
            f" (`mrbatch down --data-dir {directory}`)"
        )


def _stop_hint(config: StackConfig) -> str:
    """`mrbatch down`, with the --data-dir it needs unless that is the default."""
    if config.data_dir == DEFAULT_DATA_DIR.resolve():
        return "`mrbatch down`"
    return f"`mrbatch down --data-dir {config.data_dir}`"


def _config_for_up(data_dir: Path, overrides: dict[str, Any]) -> StackConfig:
    """The saved settings of `data_dir` (if any) with the given options on top."""
    data_dir = data_dir.resolve()
    record: dict[str, Any] = {"data_dir": str(data_dir)}
    if stack_config_file(data_dir).exists():
        record = StackConfig.load(data_dir).to_dict()
    extra = dict(record.get("extra", {}))
    for key in ("financials", "schema"):
        value = overrides.pop(key, None)
        if value is not None:
            extra[key] = str(Path(value).resolve())
    record["extra"] = extra
    record.update({k: v for k, v in overrides.items() if v is not None})
    return StackConfig.from_dict(record)


def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background.")] = False,
    regions: Annotated[str | None, typer.Option(help="Two region names, comma-separated.")] = None,
    financials: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Financial-data CSV, loaded into the active region (and replicated) when "
            "its table is empty; later, `mrbatch financials load FILE`.",
        ),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="JSON Schema for the rows.")
    ] = None,
    chunk_size: Annotated[int | None, typer.Option(min=1, help="Records per chunk.")] = None,
    max_files_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Files a region runs at once (the rest queue).")
    ] = None,
    replication_delay: Annotated[
        float | None, typer.Option(min=0, help="Hold replication back (seconds; drills).")
    ] = None,
    replication_sla: Annotated[
        float | None, typer.Option(min=1, help="Replication SLA in seconds (default 900).")
    ] = None,
    gateway_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Access point port (0: a free one).")
    ] = None,
    smtp_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Mail sink port (0: a free one).")
    ] = None,
    auto_failover: Annotated[
        bool,
        typer.Option(help="Fail over by itself when the active region fails its health checks."),
    ] = False,
    failure_threshold: Annotated[
        int, typer.Option(min=1, help="Consecutive failed checks (1/s) before auto-failover.")
    ] = 3,
) -> None:
    """Start the local two-region stack: both regions, replicator, access point, mail sink.

    Prints the endpoints and the local credentials. Runs until Ctrl-C (or `mrbatch down`);
    with --detach, returns once the stack is up.
    """
    from mrbatch.runtime.services.supervision import running_stack_record

    if running_stack_record(data_dir.resolve()):
        raise ConfigError(
            f"a stack is already running in {data_dir.resolve()}"
            f" (`mrbatch down --data-dir {data_dir.resolve()}` first)"
        )
    overrides: dict[str, Any] = {
        "regions": tuple(regions.split(",")) if regions else None,
        "financials": financials,
        "schema": schema,
        "chunk_size": chunk_size,
        "max_files_in_flight": max_files_in_flight,
        "replication_delay_seconds": replication_delay,
        "replication_sla_seconds": replication_sla,
        "gateway_port": gateway_port,
        "smtp_port": smtp_port,
    }
    if schema is not None:  # checked here, not in a region's start-up ("see its log")
        from mrbatch.pipeline.rules import load_rules

        load_rules(schema)
    config = _config_for_up(data_dir, overrides)
    _check_ports(config)
    private_data_dir(config.data_dir)  # before the first file is written into it
    if detach:
        extra = ["--auto-failover", "--failure-threshold", str(failure_threshold)]
        _up_detached(config, extra if auto_failover else [])
        return
    _up_foreground(config, failure_threshold if auto_failover else None)


def _check_ports(config: StackConfig) -> None:
    """A fixed port already taken fails here, before config.json keeps it for every later
    `up` of the directory, and not as a service's start-up failure behind two log files."""
    import socket

    for label, option, port in (
        ("access point", "--gateway-port", config.gateway_port),
        ("mail sink", "--smtp-port", config.smtp_port),
    ):
        if not port:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise ConfigError(
                    f"the {label}'s port 127.0.0.1:{port} is not free ({exc.strerror});"
                    f" give another {option}, or {option} 0 for a free one"
                ) from exc


_EXCEPTION_CLASS = re.compile(r"^[\w.]+(?:Error|Exception): ")


def _start_failure(log: Path, offset: int) -> str:
    """Why a detached stack did not start: the supervisor's error line of this start (it
    names the service and its log) and that log's last line, instead of only "see the log"."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if not errors:
        return f"the stack failed to start; see {log}"
    reason = errors[-1]
    named = re.search(r"see (\S+\.log)$", reason)
    if named:
        try:
            tail = Path(named.group(1)).read_text(errors="replace").strip().splitlines()
        except OSError:
            tail = []
        if tail:  # "mrbatch.errors.ConfigError: schema ...": the message, not the class
            last = _EXCEPTION_CLASS.sub("", tail[-1].strip())
            reason = f"{reason}: {last}"
    return f"the stack failed to start: {reason}"


def _up_foreground(config: StackConfig, failure_threshold: int | None) -> None:
    from mrbatch.runtime.services.supervision import serve_stack

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"starting the stack in {config.data_dir} ...")

    def on_up(record: dict[str, Any]) -> None:
        _print_endpoints(record, config)
        typer.echo(f"stack is up; Ctrl-C or {_stop_hint(config)} stops it")

    serve_stack(config, stop, failure_threshold=failure_threshold, say=typer.echo, on_up=on_up)
    typer.echo("stopped")


def _up_detached(config: StackConfig, extra_args: list[str]) -> None:
    config.save()
    config.stack_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "mrbatch.cli.app", "up", "--data-dir", str(config.data_dir)]
    with config.supervisor_log.open("ab") as log:  # the child keeps its copy
        offset = log.tell()
        process = subprocess.Popen(
            [*command, *extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def started() -> bool:
        if process.poll() is not None:
            raise MrBatchError(_start_failure(config.supervisor_log, offset))
        return config.stack_file.exists()

    wait_until(started, timeout=120, what="the stack to start")
    _print_endpoints(read_stack_file(config.data_dir), config)
    typer.echo(f"stack is up in the background (pid {process.pid}); {_stop_hint(config)} stops it")


def _print_endpoints(record: dict[str, Any], config: StackConfig) -> None:
    """The endpoints and the access key; the secret key only on an interactive terminal
    (a detached stack's stdout is its log file, which must never carry a secret)."""
    from mrbatch.runtime.wiring import credentials_file

    credentials = record["credentials"]
    typer.echo(f"  access point   {record['gateway']}  (bucket: {record['bucket']})")
    typer.echo(f"  control API    {record['control_api']}")
    typer.echo(f"  dashboard      {record['gateway']}/dashboard/  (metrics: /metrics)")
    typer.echo(f"  mail sink      smtp://{record['smtp']}")
    for region, info in record["regions"].items():
        typer.echo(f"  {region:<14} enrichment API {info['enrichment_api']}")
    typer.echo("  credentials    (for aws s3 / boto3 with --endpoint-url)")
    typer.echo(f"    AWS_ACCESS_KEY_ID={credentials['aws_access_key_id']}")
    if sys.stdout.isatty():
        typer.echo(f"    AWS_SECRET_ACCESS_KEY={credentials['aws_secret_access_key']}")
    else:
        typer.echo(f"    AWS_SECRET_ACCESS_KEY: in {credentials_file(config)} (owner-only)")
    _warn_without_financials(config)


def _warn_without_financials(config: StackConfig) -> None:
    """Say loudly when the active region has no financial data: every row would end
    "not enriched", which looks like a bug rather than a missing step."""
    from mrbatch.runtime.operations.financials import has_financials
    from mrbatch.runtime.wiring import open_routing

    active = open_routing(config).state().active_region
    if has_financials(config, active):
        return
    if config.extra.get("financials"):  # `up --detach --financials F`: loading after start-up
        typer.echo(
            f"  financial data from {config.extra['financials']} is loading into {active} in"
            " the background; rows processed before it is done are written 'not enriched'"
        )
        return
    typer.secho(
        f"WARNING: no financial data is loaded in {active}: every row will be written"
        " 'not enriched'.\n"
        f"  Load it with: mrbatch financials load FILE --data-dir {config.data_dir}",
        fg=typer.colors.YELLOW,
        bold=True,
    )


def down(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Stop the stack running in the data directory and wait until every process is gone
    (after a deadline, by SIGKILL of each of its process groups)."""
    from mrbatch.runtime.services.supervision import stop_running_stack

    data_dir = data_dir.resolve()
    if not stop_running_stack(data_dir, say=typer.echo):
        typer.echo(f"no stack is running in {data_dir}")
        return
    typer.echo("stack stopped")


def status(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonFlag = False) -> None:
    """Active region and epoch, replication backlog, files per status per region."""
    from mrbatch.runtime.operations.stackinfo import stack_status

    report = stack_status(data_dir.resolve())
    if as_json:
        typer.echo(dumps(report))
        return
    routing = report["routing"]
    if report.get("stack") is None:
        directory = data_dir.resolve()
        typer.echo(
            f"stack: NOT RUNNING in {directory}; below is its stored state"
            f" (`mrbatch up --detach --data-dir {directory}` starts it)"
        )
    typer.echo(f"active region: {routing['active_region']} (epoch {routing['epoch']})")
    if not report["replication"]:
        typer.echo("replication: no status yet (is the stack running?)")
    for direction, info in report["replication"].items():
        objects = info.get("objects", {})
        paused = " (PAUSED)" if info.get("paused") else ""
        typer.echo(
            f"replication {direction}{paused}: {objects.get('operations_pending', '?')} "
            f"object(s) pending ({objects.get('bytes_pending', '?')} bytes), "
            f"{objects.get('late', '?')} late against the SLA"
        )
    _print_services(report.get("stack") or {})
    for region, counts in report["files"].items():
        summary = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())) or "none"
        typer.echo(f"files in {region}: {summary}")
    for region, counters in report["metrics"].items():
        shown = ", ".join(f"{name} {value:g}" for name, value in counters.items() if value)
        typer.echo(f"metrics of {region}: {shown or 'nothing yet'}")


def _print_services(stack: dict[str, Any]) -> None:
    """The services that are not running, and the auto-failover runbook in progress."""
    for name, service in (stack.get("services") or {}).items():
        if service["state"] != "running":
            typer.echo(
                f"service {name}: {service['state'].upper()} after {service['failures']} "
                f"failed restart(s): {service['last_error']}"
            )
    runbook = stack.get("runbook")
    if runbook:
        typer.echo(f"auto-failover runbook in progress (pid {runbook['pid']}): {runbook['reason']}")


def submit(
    paths: Annotated[list[Path], typer.Argument(help="CSV files to upload.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    prefix: Annotated[
        str,
        typer.Option(help="Key prefix; only keys under input/ are processed, others only stored."),
    ] = "input/",
    as_json: JsonFlag = False,
) -> None:
    """Upload files through the access point (SigV4), as `aws s3 cp` would.

    On a terminal each upload shows a progress line; with --json, or when the output is
    not a terminal, only the final line (one JSON list with --json)."""
    from mrbatch.cli.progress import ByteProgress
    from mrbatch.handlers.naming import INPUT_PREFIX
    from mrbatch.runtime.operations.stackinfo import submit_files

    lines: dict[Path, ByteProgress] = {}

    def progress(path: Path, sent: int) -> None:
        if path not in lines:
            lines[path] = ByteProgress(sys.stdout, total=path.stat().st_size, label=path.name)
        lines[path].add(sent)

    for path in paths:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory; give the files in it, e.g. {path}/*.csv")
    live = not as_json and sys.stdout.isatty()
    uploaded = []
    for path, key, etag in submit_files(
        data_dir.resolve(), paths, prefix=prefix, progress=progress if live else None
    ):
        if path in lines:
            lines.pop(path).finish()
        uploaded.append({"path": str(path), "key": key, "etag": etag})
        if not as_json:
            typer.echo(f"uploaded {path} -> {key} (etag {etag})")
    if as_json:
        typer.echo(json.dumps(uploaded))
    if uploaded and not prefix.startswith(INPUT_PREFIX):  # allowed, but rarely what one means
        typer.echo(
            f"note: keys under {prefix!r} are stored and replicated but never processed;"
            f" only keys under {INPUT_PREFIX!r} are (the default --prefix)",
            err=True,
        )


def files(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonFlag = False) -> None:
    """Files known to each region's batch state table."""
    from mrbatch.runtime.operations.stackinfo import file_rows

    rows = file_rows(data_dir.resolve())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        typer.echo("no files yet")
    for row in rows:
        typer.echo(
            f"{row['table_region']:<10} {row['status']:<12} epoch {row['epoch']:<3} "
            f"by {row['region']:<10} {row['key']} ({row['version_id'][:12]})"
        )


def mail(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    show: Annotated[
        int | None, typer.Option(help="Print the whole message number N (1 = oldest).")
    ] = None,
) -> None:
    """Messages received by the mail sink."""
    from mrbatch.runtime.operations.stackinfo import mail_messages

    messages = mail_messages(data_dir.resolve())
    if show is not None:
        if not 1 <= show <= len(messages):
            raise ConfigError(f"there are {len(messages)} message(s); no number {show}")
        typer.echo(messages[show - 1]["text"])
        return
    if not messages:
        typer.echo("no mail yet")
    for number, message in enumerate(messages, 1):
        typer.echo(f"{number:>3}  {message['date']}  {message['to']}  {message['subject']}")


def url(
    name: Annotated[str, typer.Argument(help="Output name, e.g. testfile.csv, or a full key.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    expires_in: Annotated[
        int, typer.Option(min=1, max=604800, help="Seconds the link stays valid (at most 7 days).")
    ] = 3600,
) -> None:
    """Print a fresh presigned link to an output, through the access point."""
    from mrbatch.runtime.operations.stackinfo import presigned_url

    config = running_config(data_dir, "access point", "a link through it would not answer")
    typer.echo(presigned_url(config.data_dir, name, expires_in=expires_in))
