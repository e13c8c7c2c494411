"""Commands over the local ASL engine: `workflow run`, `executions list|show|history`, and
`executions send-task-success|send-task-failure|send-task-heartbeat` for callback tasks
(on a workflow database with `--db`, or through a running stack's control API with
`--data-dir`).

`workflow run` is the local counterpart of testing with AWS Step Functions Local: it runs a
definition to completion, optionally with a MockConfigFile test case standing in for the
handlers, and prints exactly one JSON object with the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from mrbatch.asl import callback
from mrbatch.asl.engine import DEFAULT_DB_PATH, Engine
from mrbatch.asl.mock import MockConfig
from mrbatch.asl.objects import DirectoryObjects
from mrbatch.asl.store import ExecutionRecord, ExecutionStatus, Store
from mrbatch.asl.tasktokens import TaskTokens
from mrbatch.errors import ConfigError, MrBatchError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `workflow` and `executions` command groups to `app`."""
    workflow = typer.Typer(
        help="Run Amazon States Language definitions locally.", no_args_is_help=True
    )
    workflow.command("run")(run)
    executions = typer.Typer(help="Inspect local workflow executions.", no_args_is_help=True)
    executions.command("list")(list_executions)
    executions.command("show")(show)
    executions.command("history")(history)
    executions.command("send-task-success")(send_task_success)
    executions.command("send-task-failure")(send_task_failure)
    executions.command("send-task-heartbeat")(send_task_heartbeat)
    app.add_typer(workflow, name="workflow")
    app.add_typer(executions, name="executions")


def _outcome(record: ExecutionRecord) -> dict[str, object]:
    if record.status is ExecutionStatus.SUCCEEDED:
        return {"status": record.status.value, "output": record.output}
    return {"status": record.status.value, "error": record.error, "cause": record.cause}


def run(
    definition: Annotated[Path, typer.Argument(help="The *.asl.json definition to run.")],
    input: str = typer.Option("{}", "--input", help="The execution input, as JSON."),
    mock_config: Annotated[
        Path | None, typer.Option("--mock-config", help="A Step Functions Local MockConfigFile.")
    ] = None,
    test_case: str | None = typer.Option(None, "--test-case", help="Test case in the mock."),
    state_machine: Annotated[
        str | None,
        typer.Option("--state-machine", help="State machine name (default: the file name)."),
    ] = None,
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Skip Wait and retry delays (still recorded)."
    ),
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after seconds."),
    bucket_dir: Annotated[
        Path | None,
        typer.Option("--bucket-dir", help="A folder served as the bucket (Distributed Map)."),
    ] = None,
) -> None:
    """Run a definition to completion and print {"status", "output"} or {"status", "error",
    "cause"} as one JSON object."""
    try:
        execution_input = json.loads(input)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--input is not JSON: {exc}") from None
    if (mock_config is None) != (test_case is None):
        raise ConfigError("--mock-config and --test-case go together")
    name = state_machine or definition.name.split(".")[0]
    mock = None
    if mock_config is not None and test_case is not None:
        # the default name (the file's) selects among several machines; a mock file with a
        # single machine is taken whatever it is called, as before
        mock = MockConfig.from_file(mock_config, name, test_case)
        name = state_machine or mock.state_machine
    objects = None if bucket_dir is None else DirectoryObjects(bucket_dir)
    with Engine(db, mock=mock, no_wait=no_wait, resume=False, objects=objects) as engine:
        arn = engine.create_state_machine(name, definition)
        record = engine.wait_for(engine.start_execution(arn, execution_input), timeout)
    typer.echo(json.dumps(_outcome(record)))


def _store(db: Path) -> Store:
    if not db.exists():
        raise ConfigError(_no_database(db))
    return Store(db)


def _no_database(db: Path) -> str:
    """`no workflow database at DB`, and where the other commands keep theirs: `run-local`
    has its own, so `executions list` right after it found nothing and said only this."""
    from mrbatch.cli.run_local_commands import DEFAULT_DATA_DIR as RUN_LOCAL_DIR

    message = f"no workflow database at {db}"
    run_local_db = RUN_LOCAL_DIR / "workflows.db"
    if db.resolve() != run_local_db.resolve() and run_local_db.exists():
        message += f"; `mrbatch run-local`'s executions are in --db {run_local_db}"
    return message


def list_executions(
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
    status: str | None = typer.Option(None, "--status", help="Only this status."),
    state_machine: Annotated[
        str | None, typer.Option("--state-machine", help="Only this ARN.")
    ] = None,
) -> None:
    """List executions, newest first, one JSON object per line."""
    try:
        wanted = None if status is None else ExecutionStatus(status.upper())
    except ValueError:
        raise ConfigError(f"unknown status {status!r}") from None
    store = _store(db)
    try:
        for record in store.executions(state_machine, wanted):
            typer.echo(
                json.dumps(
                    {k: v for k, v in record.to_json().items() if k not in ("input", "output")}
                )
            )
    finally:
        store.close()


def show(
    execution_arn: Annotated[str, typer.Argument(help="The execution ARN.")],
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
) -> None:
    """Describe one execution (DescribeExecution's JSON)."""
    store = _store(db)
    try:
        record = store.execution(execution_arn)
        if record is None:
            raise ConfigError(f"no execution {execution_arn!r} in {db}")
        typer.echo(json.dumps(record.to_json(), indent=2))
    finally:
        store.close()


def history(
    execution_arn: Annotated[str, typer.Argument(help="The execution ARN.")],
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
) -> None:
    """Print the execution's event history, one JSON event per line."""
    store = _store(db)
    try:
        if store.execution(execution_arn) is None:
            raise ConfigError(f"no execution {execution_arn!r} in {db}")
        for event in store.events(execution_arn):
            typer.echo(json.dumps(event.to_json()))
    finally:
        store.close()


StackDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Answer through this running stack's control API (instead of --db).",
    ),
]


def send_task_success(
    token: Annotated[str, typer.Argument(help="The task token ($$.Task.Token).")],
    output: str = typer.Option("{}", "--output", help="The task's result, as JSON."),
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
    data_dir: StackDir = None,
) -> None:
    """SendTaskSuccess: the waiting `.waitForTaskToken` task succeeds with OUTPUT."""
    _send(db, data_dir, lambda api: api.send_task_success(token, output))


def send_task_failure(
    token: Annotated[str, typer.Argument(help="The task token ($$.Task.Token).")],
    error: str | None = typer.Option(None, "--error", help="The error name."),
    cause: str | None = typer.Option(None, "--cause", help="The cause."),
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
    data_dir: StackDir = None,
) -> None:
    """SendTaskFailure: the waiting task fails with ERROR and CAUSE (Retry/Catch apply)."""
    _send(db, data_dir, lambda api: api.send_task_failure(token, error, cause))


def send_task_heartbeat(
    token: Annotated[str, typer.Argument(help="The task token ($$.Task.Token).")],
    db: Annotated[Path, typer.Option("--db", help="The workflow database.")] = DEFAULT_DB_PATH,
    data_dir: StackDir = None,
) -> None:
    """SendTaskHeartbeat: the worker is alive (restarts the HeartbeatSeconds clock)."""
    _send(db, data_dir, lambda api: api.send_task_heartbeat(token))


def _send(
    db: Path, data_dir: Path | None, call: Callable[[TaskTokens | _StackTaskTokens], None]
) -> None:
    """Make a SendTask* call: on the workflow database `db` (the engine that runs the
    execution, in another process, finds the answer there), or through the control API of
    the stack running in `data_dir`. Refusals are `callback.TaskTokenError`s either way."""
    if data_dir is None:
        if not db.exists():
            raise ConfigError(_no_database(db))
        call(TaskTokens([db]))
    else:
        call(_StackTaskTokens(data_dir))
    typer.echo(json.dumps({"ok": True}))


class _StackTaskTokens:
    """The calls of `TaskTokens`, made to a running stack's control API with boto3's Step
    Functions client (SigV4, the stack's credentials), as any AWS SDK would make them."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir.resolve()

    def send_task_success(self, token: str, output: str) -> None:
        self._call("send_task_success", taskToken=token, output=output)

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        optional = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        self._call("send_task_failure", taskToken=token, **optional)

    def send_task_heartbeat(self, token: str) -> None:
        self._call("send_task_heartbeat", taskToken=token)

    def _call(self, operation: str, **arguments: str) -> None:
        import boto3  # lazily: only the remote mode pays for it
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        from mrbatch.runtime.config import StackConfig
        from mrbatch.runtime.operations.stackinfo import unreachable_service
        from mrbatch.runtime.wiring import load_credentials, read_endpoints

        config = StackConfig.load(self._data_dir)
        credentials = load_credentials(config)
        client = boto3.client(
            "stepfunctions",
            endpoint_url=f"{read_endpoints(config)['gateway']}/control/states",
            region_name=config.regions[0],
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        try:
            getattr(client, operation)(**arguments)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code")), str(error.get("Message"))
            raise _REFUSALS.get(code, MrBatchError)(f"{code}: {message}") from None
        except BotoCoreError as exc:
            raise MrBatchError(unreachable_service(exc) or str(exc)) from exc


_REFUSALS: dict[str, type[MrBatchError]] = {
    cls.code: cls
    for cls in (
        callback.TaskDoesNotExistError,
        callback.TaskTimedOutError,
        callback.InvalidTokenError,
        callback.InvalidOutputError,
    )
}
"""The control API's error names, back to the errors the local mode raises."""
