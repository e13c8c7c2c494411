"""The Engine: create state machines, start, stop, describe and wait for executions, durably.

The engine runs its own asyncio event loop on a background thread; every public method is a
plain blocking call that hands work to that loop, so callers need no asyncio. Executions are
coroutines on the loop (Map iterations and Parallel branches are concurrent tasks); task
bodies run on a worker pool of processes (see `mrbatch.asl.resources`).

State lives in one SQLite file. A new `Engine` over the same file resumes every RUNNING
execution (see `mrbatch.asl.run` for how replay avoids re-running completed tasks).

>>> import tempfile, os
>>> with Engine(os.path.join(tempfile.mkdtemp(), "wf.db")) as engine:
...     sm = engine.create_state_machine("Hello", {"StartAt": "A", "States": {
...         "A": {"Type": "Pass", "Result": {"hello": "world"}, "End": True}}})
...     arn = engine.start_execution(sm, {}, name="first")
...     done = engine.wait_for(arn, timeout=10)
>>> done.status.value, done.output
('SUCCEEDED', {'hello': 'world'})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mrbatch.asl.callback import Callbacks
from mrbatch.asl.dataflow import dumps
from mrbatch.asl.definition import JsonValue, StateMachineDefinition
from mrbatch.asl.errors import RUNTIME, StatesError
from mrbatch.asl.interpreter import run_program
from mrbatch.asl.invoke import Invoker, MockSource
from mrbatch.asl.loader import load_definition, load_definition_file
from mrbatch.asl.nested import nested_integrations
from mrbatch.asl.objects import ObjectAccess
from mrbatch.asl.resources import ResourceRegistry
from mrbatch.asl.run import HISTORY_LIMIT_CAUSE, Frame, HistoryLimitReachedError, Run
from mrbatch.asl.store import (
    ExecutionRecord,
    ExecutionStatus,
    HistoryEvent,
    MapRunRecord,
    StateMachineRecord,
    Store,
)
from mrbatch.errors import MrBatchError

__all__ = [
    "DEFAULT_DB_PATH",
    "Engine",
    "EngineClosedError",
    "ExecutionAlreadyExistsError",
    "ExecutionDoesNotExistError",
    "ExecutionListener",
    "ExecutionWaitTimeoutError",
    "InvalidNameError",
    "MapRunDoesNotExistError",
    "StateMachineDoesNotExistError",
    "check_execution_name",
]

MAX_NAME_LENGTH = 80
"""StartExecution `name`: "Length Constraints: Minimum length of 1. Maximum length of 80."."""

_FORBIDDEN_IN_NAMES = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
"""What AWS forbids in names: white space, brackets, wildcards, special characters and
control characters."""


def check_execution_name(name: str) -> str:
    """Return `name` if AWS would accept it as an execution name, else raise InvalidNameError.

    >>> check_execution_name("orders-2024-e1")
    'orders-2024-e1'
    """
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"Invalid Name: {name!r} has {len(name)} characters (1 to {MAX_NAME_LENGTH} allowed)"
        )
    bad = _FORBIDDEN_IN_NAMES.search(name)
    if bad is not None:
        raise InvalidNameError(f"Invalid Name: {name!r} contains {bad.group(0)!r}")
    return name


DEFAULT_DB_PATH = Path(".mrbatch/workflows.db")
log = logging.getLogger(__name__)
T = TypeVar("T")


class ExecutionAlreadyExistsError(MrBatchError):
    """An execution with this name exists for the state machine, with another input."""


class InvalidNameError(MrBatchError):
    """An execution name AWS would refuse (StartExecution's InvalidName)."""


class ExecutionDoesNotExistError(MrBatchError):
    """No execution has this ARN."""


class StateMachineDoesNotExistError(MrBatchError):
    """No state machine has this ARN or name."""


class ExecutionWaitTimeoutError(MrBatchError):
    """`wait_for` gave up before the execution finished."""


class EngineClosedError(MrBatchError):
    """The engine was closed."""


class MapRunDoesNotExistError(MrBatchError):
    """No Map Run has this ARN."""


ExecutionListener = Callable[[ExecutionRecord], None]
"""Called once an execution ends (any final status), on a thread of its own, with the final
record: the local stand-in for an EventBridge rule on "Step Functions Execution Status
Change". Delivery is at least once (a crash before the listener returns redelivers it)."""


# A listener that raised is called again after 1, 2, 4 ... s, at most every 30 s.
_REDELIVERY_FIRST_SECONDS = 1.0
_REDELIVERY_MAX_SECONDS = 30.0


class Engine:
    """A local AWS Step Functions: state machines and their executions in one SQLite file."""

    def __init__(
        self,
        db_path: str | Path = DEFAULT_DB_PATH,
        *,
        resources: ResourceRegistry | None = None,
        workers: int = 2,
        no_wait: bool = False,
        mock: MockSource | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        resume: bool = True,
        worker_initializer: Callable[[], None] | None = None,
        objects: ObjectAccess | None = None,
        listeners: Sequence[ExecutionListener] = (),
    ) -> None:
        self.resources = resources if resources is not None else ResourceRegistry()
        # `objects`: where Distributed Maps read items and write results (the engine does
        # no I/O itself); `listeners`: called once per finished execution (see below)
        self._objects = objects
        self._listeners = tuple(listeners)
        self._reporter = concurrent.futures.ThreadPoolExecutor(1, "mrbatch-asl-listeners")
        self.region, self.account, self.no_wait = region, account, no_wait
        # `worker_initializer` runs once in each worker process (it must pickle): how a
        # region hands its workers what they work on, without environment variables
        self._invoker = Invoker(
            self.resources,
            workers=workers,
            mock=mock,
            builtins=nested_integrations(),
            worker_initializer=worker_initializer,
        )
        self._machines: dict[str, tuple[StateMachineRecord, StateMachineDefinition]] = {}
        self._active: dict[str, tuple[Run, asyncio.Task[None]]] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mrbatch-asl-engine", daemon=True
        )
        self._thread.start()
        try:
            self._store = self._call(self._open(Path(db_path)))
            self._callbacks = Callbacks(self._store)
            if resume:
                self._call(self._resume_all())
            self._call(self._report_unreported())
        except BaseException:
            self._stop_loop()
            self._reporter.shutdown()
            raise

    # --- public API ------------------------------------------------------------------------

    def create_state_machine(
        self,
        name: str,
        definition: Mapping[str, JsonValue] | str | Path,
        *,
        substitutions: Mapping[str, str] | None = None,
        role_arn: str | None = None,
    ) -> str:
        """Create (or update) a state machine from a dict, JSON text or a file path; returns
        its ARN. Raises DefinitionError for an invalid definition."""
        if isinstance(definition, Path) or (
            isinstance(definition, str) and not definition.lstrip().startswith("{")
        ):
            parsed = load_definition_file(definition, substitutions)
        elif isinstance(definition, str):
            parsed = load_definition(json.loads(definition), substitutions)
        else:
            parsed = load_definition(dict(definition), substitutions)
        arn = f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"
        role = role_arn or f"arn:aws:iam::{self.account}:role/{name}-role"
        record = StateMachineRecord(arn, name, parsed.source, role, time.time())
        self._call(self._put_machine(record, parsed))
        return arn

    def start_execution(
        self, state_machine: str, input: JsonValue = None, *, name: str | None = None
    ) -> str:
        """Start an execution and return its ARN. `state_machine` is an ARN or a name.

        The same name with the same input returns the existing execution; with another
        input, raises ExecutionAlreadyExistsError."""
        arn = self._machine_arn(state_machine)
        execution_name = str(uuid.uuid4()) if name is None else check_execution_name(name)
        record = self._call(self._start(arn, execution_name, {} if input is None else input))
        return record.arn

    def describe_execution(self, execution_arn: str) -> ExecutionRecord:
        """The execution's current record. Raises ExecutionDoesNotExistError."""
        return self._call(self._describe(execution_arn))

    def stop_execution(
        self, execution_arn: str, *, error: str | None = None, cause: str | None = None
    ) -> ExecutionRecord:
        """Abort a RUNNING execution (status ABORTED); a finished one is returned unchanged."""
        return self._call(self._stop(execution_arn, error, cause))

    def send_task_success(self, token: str, output: JsonValue) -> None:
        """SendTaskSuccess: the callback task of `token` succeeds with `output`. Raises
        InvalidTokenError (not a token this engine issues), TaskDoesNotExistError or
        TaskTimedOutError (the task already finished), as `callback` decides for every caller."""
        self._call(self._resolve(token, {"ok": output}))

    def send_task_failure(
        self, token: str, error: str | None = None, cause: str | None = None
    ) -> None:
        """SendTaskFailure: the callback task of `token` fails with `error` and `cause`."""
        self._call(self._resolve(token, {"error": error, "cause": cause}))

    def send_task_heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat: restart the HeartbeatSeconds clock of the task of `token`."""
        self._call(self._heartbeat(token))

    def list_executions(
        self, state_machine: str | None = None, status: ExecutionStatus | str | None = None
    ) -> list[ExecutionRecord]:
        """Executions, newest first, optionally of one state machine and/or one status."""
        arn = None if state_machine is None else self._machine_arn(state_machine)
        wanted = None if status is None else ExecutionStatus(status)
        return self._call(self._list(arn, wanted))

    def get_execution_history(self, execution_arn: str) -> list[HistoryEvent]:
        """The execution's events, oldest first. Raises ExecutionDoesNotExistError."""
        return self._call(self._history(execution_arn))

    def describe_map_run(self, map_run_arn: str) -> MapRunRecord:
        """DescribeMapRun: a Distributed Map's run. Raises MapRunDoesNotExistError."""
        return self._call(self._map_run(map_run_arn))

    def list_map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """ListMapRuns: the Map Runs an execution started, oldest first."""
        return self._call(self._map_runs(execution_arn))

    def wait_for(self, execution_arn: str, timeout: float | None = None) -> ExecutionRecord:
        """Block until the execution is no longer RUNNING and return it.
        Raises ExecutionWaitTimeoutError after `timeout` seconds."""
        future = self._submit(self.wait_child(execution_arn))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ExecutionWaitTimeoutError(
                f"{execution_arn} still RUNNING after {timeout} s"
            ) from None

    def close(self) -> None:
        """Stop running executions where they are (they stay RUNNING and resume in the next
        Engine over the same file), stop the worker pool and close the database."""
        if self._closed:
            return
        self._reporter.shutdown(wait=True)  # listeners finish (their acks need the loop)
        self._call(self._shutdown())
        self._closed = True
        self._stop_loop()
        self._invoker.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ExecutionHost (nested executions) -------------------------------------------------

    async def start_child(
        self, state_machine_arn: str, name: str, input: JsonValue
    ) -> ExecutionRecord:
        """Start a nested execution (used by the startExecution integrations)."""
        try:
            self._machine(state_machine_arn)
            return await self._start(state_machine_arn, check_execution_name(name), input)
        except InvalidNameError as exc:
            raise StatesError("StepFunctions.InvalidNameException", str(exc)) from None
        except ExecutionAlreadyExistsError as exc:
            raise StatesError("StepFunctions.ExecutionAlreadyExistsException", str(exc)) from None
        except StateMachineDoesNotExistError as exc:
            raise StatesError("StepFunctions.StateMachineDoesNotExistException", str(exc)) from None

    async def wait_child(self, execution_arn: str) -> ExecutionRecord:
        """Wait until the execution is no longer RUNNING and return it."""
        record = await self._describe(execution_arn)
        if record.status is not ExecutionStatus.RUNNING:
            return record
        await self._done.setdefault(execution_arn, asyncio.Event()).wait()
        return await self._describe(execution_arn)

    async def stop_child(self, execution_arn: str, error: str, cause: str) -> None:
        """Abort a RUNNING execution (a failed Map Run's remaining children)."""
        await self._stop(execution_arn, error, cause)

    def child_machine(self, name: str, definition: dict[str, JsonValue]) -> str:
        """Create, or update when its definition changed, the state machine of a Distributed
        Map's child executions; returns its ARN."""
        arn = self._machine_arn(name)
        known = self._machines.get(arn) or (None, None)
        if known[0] is None or known[0].definition != definition:
            stored = self._store.state_machine(arn)
            if stored is not None and stored.definition == definition:
                self._machines[arn] = (stored, load_definition(stored.definition))
            else:
                parsed = load_definition(definition)
                role = f"arn:aws:iam::{self.account}:role/{name.split('/')[0]}-role"
                record = StateMachineRecord(arn, name, parsed.source, role, time.time())
                self._store.put_state_machine(record)
                self._machines[arn] = (record, parsed)
        return arn

    @property
    def objects(self) -> ObjectAccess | None:
        """The object store Distributed Maps read items from and write results to."""
        return self._objects

    # --- on the loop -----------------------------------------------------------------------

    async def _open(self, path: Path) -> Store:
        return Store(path)

    async def _put_machine(
        self, record: StateMachineRecord, parsed: StateMachineDefinition
    ) -> None:
        self._store.put_state_machine(record)
        self._machines[record.arn] = (record, parsed)

    def _machine(self, arn: str) -> tuple[StateMachineRecord, StateMachineDefinition]:
        if arn not in self._machines:
            record = self._store.state_machine(arn)
            if record is None:
                raise StateMachineDoesNotExistError(f"no state machine {arn!r}")
            self._machines[arn] = (record, load_definition(record.definition))
        return self._machines[arn]

    def _machine_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name_or_arn}"

    async def _start(self, machine_arn: str, name: str, input: JsonValue) -> ExecutionRecord:
        record, parsed = self._machine(machine_arn)
        arn = f"arn:aws:states:{self.region}:{self.account}:execution:{record.name}:{name}"
        existing = self._store.execution(arn)
        if existing is not None:
            if existing.input == input:
                return existing
            raise ExecutionAlreadyExistsError(
                f"execution {name!r} of {record.name!r} already exists with another input"
            )
        execution = ExecutionRecord(
            arn,
            name,
            machine_arn,
            ExecutionStatus.RUNNING,
            input,
            None,
            None,
            None,
            time.time(),
            None,
        )
        run = self._new_run(execution, record, parsed, resumed=False)
        run.emit(
            None, ":start", "ExecutionStarted", {"input": dumps(input), "roleArn": record.role_arn}
        )
        self._store.insert_execution(execution)
        self._launch(run)
        return execution

    def _new_run(
        self,
        execution: ExecutionRecord,
        machine: StateMachineRecord,
        parsed: StateMachineDefinition,
        *,
        resumed: bool,
    ) -> Run:
        return Run(
            store=self._store,
            arn=execution.arn,
            name=execution.name,
            state_machine_arn=machine.arn,
            state_machine_name=machine.name,
            definition=parsed,
            input=execution.input,
            start_date=execution.start_date,
            role_arn=machine.role_arn,
            invoker=self._invoker,
            host=self,
            region=self.region,
            no_wait=self.no_wait,
            resumed=resumed,
            callbacks=self._callbacks,
        )

    def _launch(self, run: Run) -> None:
        task = self._loop.create_task(self._drive(run), name=run.arn)
        self._active[run.arn] = (run, task)

    async def _resume_all(self) -> None:
        for execution in list(self._store.executions(status=ExecutionStatus.RUNNING)):
            machine, parsed = self._machine(execution.state_machine_arn)
            self._launch(self._new_run(execution, machine, parsed, resumed=True))

    async def _drive(self, run: Run) -> None:
        frame = Frame("", 1)
        timeout = run.definition.timeout_seconds
        try:
            deadline = (
                None
                if not timeout
                else self._loop.time() + (run.start_date + timeout - time.time())
            )
            async with asyncio.timeout_at(deadline):
                output = await run_program(run, run.definition.program, run.input, frame)
            self._finish(
                run,
                frame,
                ExecutionStatus.SUCCEEDED,
                "ExecutionSucceeded",
                {"output": dumps(output)},
                output=output,
            )
        except StatesError as err:
            self._finish(
                run,
                frame,
                ExecutionStatus.FAILED,
                "ExecutionFailed",
                {k: v for k, v in (("error", err.error), ("cause", err.cause)) if v is not None},
                err.error,
                err.cause,
            )
        except TimeoutError:
            cause = f"The execution ran longer than its TimeoutSeconds ({timeout} s)"
            self._finish(
                run,
                frame,
                ExecutionStatus.TIMED_OUT,
                "ExecutionTimedOut",
                {"error": "States.Timeout", "cause": cause},
                "States.Timeout",
                cause,
            )
        except HistoryLimitReachedError:
            self._finish(
                run,
                frame,
                ExecutionStatus.FAILED,
                "ExecutionFailed",
                {"error": RUNTIME, "cause": HISTORY_LIMIT_CAUSE},
                RUNTIME,
                HISTORY_LIMIT_CAUSE,
            )
        except asyncio.CancelledError:
            if not run.stopped:
                raise
        except Exception as exc:  # a bug in the engine: fail the execution, keep the engine
            cause = f"internal error: {type(exc).__name__}: {exc}"
            self._finish(
                run,
                frame,
                ExecutionStatus.FAILED,
                "ExecutionFailed",
                {"error": RUNTIME, "cause": cause},
                RUNTIME,
                cause,
            )

    def _finish(
        self,
        run: Run,
        frame: Frame | None,
        status: ExecutionStatus,
        event: str,
        details: dict[str, JsonValue],
        error: str | None = None,
        cause: str | None = None,
        output: JsonValue = None,
    ) -> None:
        if run.stopped:
            return
        run.stopped = True
        run.emit(frame, ":end", event, details)
        self._store.finish_execution(
            run.arn,
            status,
            output=output,
            error=error,
            cause=cause,
            stop_date=time.time(),
            report=bool(self._listeners),
        )
        self._active.pop(run.arn, None)
        self._done.setdefault(run.arn, asyncio.Event()).set()
        self._report(run.arn)

    def _report(self, arn: str) -> None:
        """Hand a finished execution to the listeners, on their own thread (they do I/O);
        once they all return, the end is marked reported. One that raises leaves it queued:
        the next Engine over the database delivers it again (listeners are idempotent)."""
        if not self._listeners:
            return
        record = self._store.execution(arn)
        if record is not None:
            self._reporter.submit(self._deliver, record)

    def _deliver(self, record: ExecutionRecord, attempt: int = 0) -> None:
        """Call every listener; when one raises (its own dependency may be down for a
        while), try again later, backing off to `_REDELIVERY_MAX_SECONDS`, for as long as
        this engine runs: an end left unreported until the next restart would leave its
        file unfinished meanwhile. A closed engine leaves it to the next one."""
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                delay = min(_REDELIVERY_MAX_SECONDS, _REDELIVERY_FIRST_SECONDS * 2**attempt)
                log.exception(
                    "execution listener failed on %s; delivering it again in %.0f s",
                    record.arn,
                    delay,
                )
                with contextlib.suppress(RuntimeError):  # closed: the next engine redelivers
                    self._loop.call_soon_threadsafe(
                        self._loop.call_later, delay, self._redeliver, record, attempt + 1
                    )
                return
        with contextlib.suppress(RuntimeError):  # a closed loop: the next engine redelivers
            self._loop.call_soon_threadsafe(self._store.reported, record.arn)

    def _redeliver(self, record: ExecutionRecord, attempt: int) -> None:
        with contextlib.suppress(RuntimeError):  # the reporter is shut down: engine closed
            self._reporter.submit(self._deliver, record, attempt)

    async def _report_unreported(self) -> None:
        for arn in self._store.unreported():
            record = self._store.execution(arn)
            if record is not None and record.status is not ExecutionStatus.RUNNING:
                self._reporter.submit(self._deliver, record)

    async def _resolve(self, token: str, outcome: dict[str, JsonValue]) -> None:
        self._callbacks.resolve(token, outcome)

    async def _heartbeat(self, token: str) -> None:
        self._callbacks.heartbeat(token)

    async def _describe(self, arn: str) -> ExecutionRecord:
        record = self._store.execution(arn)
        if record is None:
            raise ExecutionDoesNotExistError(f"no execution {arn!r}")
        return record

    async def _stop(self, arn: str, error: str | None, cause: str | None) -> ExecutionRecord:
        record = await self._describe(arn)
        if record.status is not ExecutionStatus.RUNNING:
            return record
        active = self._active.get(arn)
        if active is not None:
            run, task = active
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
            self._finish(
                run, None, ExecutionStatus.ABORTED, "ExecutionAborted", details, error, cause
            )
            task.cancel()
            await asyncio.wait([task])
        elif self._store.finish_execution(
            arn,
            ExecutionStatus.ABORTED,
            error=error,
            cause=cause,
            stop_date=time.time(),
            report=bool(self._listeners),
        ):
            self._report(arn)
        return await self._describe(arn)

    async def _map_run(self, arn: str) -> MapRunRecord:
        record = self._store.map_run(arn)
        if record is None:
            raise MapRunDoesNotExistError(f"no Map Run {arn!r}")
        return record

    async def _map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        await self._describe(execution_arn)
        return self._store.map_runs(execution_arn)

    async def _list(self, arn: str | None, status: ExecutionStatus | None) -> list[ExecutionRecord]:
        return list(self._store.executions(arn, status))

    async def _history(self, arn: str) -> list[HistoryEvent]:
        await self._describe(arn)
        return list(self._store.events(arn))

    async def _shutdown(self) -> None:
        tasks = [task for _, task in self._active.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._active.clear()
        self._store.close()

    # --- thread plumbing -------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._closed:
            coro.close()
            raise EngineClosedError("the engine is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
