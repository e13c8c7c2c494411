"""The resource registry: which local code a Task's `Resource` ARN runs, and how it is called.

Two kinds of entries:

- **functions**, found by Lambda function name: a Task whose Resource is a Lambda function
  ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`) or the optimised
  integration `arn:aws:states:::lambda:invoke` with `FunctionName`. A function takes the
  event (JSON) and returns JSON, like a Lambda handler. By default it runs on the engine's
  worker pool of processes, so it must be an importable top-level function (or a
  `functools.partial` of one); `in_process=True` runs it on a thread of the engine process
  instead (for light tasks or closures). An exception becomes the task's error: a
  `StatesError` keeps its error name and cause; any other exception is named after its
  class with a Lambda-style JSON cause (`errorMessage`, `errorType`, `stackTrace`).
- **integrations**, found by `<service>:<action>` (with `.sync`, `.sync:2` kept): an async
  callable taking a `TaskCall` and returning the task result, e.g. `dynamodb:putItem`. The
  engine registers `lambda:invoke` and the `states:startExecution` family itself.

>>> registry = ResourceRegistry()
>>> registry.register_function("arn:aws:lambda:us-east-1:123456789012:function:split", len)
>>> registry.function("split").name
'split'
>>> parse_resource("arn:aws:states:::states:startExecution.sync:2").key
'states:startExecution.sync:2'
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import RUNTIME, TASK_FAILED, StatesError
from mrbatch.asl.objects import ObjectAccess
from mrbatch.asl.store import ExecutionRecord

__all__ = [
    "ExecutionHost",
    "FunctionBody",
    "Integration",
    "RegisteredFunction",
    "Resource",
    "ResourceRegistry",
    "TaskCall",
    "call_safely",
    "function_name",
    "parse_resource",
]

FunctionBody = Callable[[JsonValue], JsonValue]
"""A Lambda-like handler: event in, JSON-serialisable result out."""


class ExecutionHost(Protocol):
    """What nested-execution integrations need from the engine."""

    async def start_child(
        self, state_machine_arn: str, name: str, input: JsonValue
    ) -> ExecutionRecord:
        """Start (or find, for the same name and input) an execution and return it.
        Raises StatesError(StepFunctions.ExecutionAlreadyExistsException) for another input."""
        ...

    async def wait_child(self, execution_arn: str) -> ExecutionRecord:
        """Wait until the execution is no longer RUNNING and return it."""
        ...

    async def stop_child(self, execution_arn: str, error: str, cause: str) -> None:
        """Abort a RUNNING execution (a Map Run's child once the run has failed)."""
        ...

    def child_machine(self, name: str, definition: dict[str, JsonValue]) -> str:
        """Create (once) the state machine a Distributed Map's child executions run, named
        `<parent>/<label>`; returns its ARN. Raises DefinitionError."""
        ...

    @property
    def objects(self) -> ObjectAccess | None:
        """Where ItemReader reads and ResultWriter writes (None: no object store)."""
        ...


@dataclass(frozen=True)
class TaskCall:
    """One invocation of an integration: its parameters and where it comes from.

    `key` is deterministic (the same after a restart), so an integration can use it as an
    idempotency key or to derive names (the nested-execution integration does).
    """

    resource: str
    parameters: JsonValue
    state_name: str
    key: str
    execution_arn: str
    context: JsonValue
    region: str
    host: ExecutionHost


Integration = Callable[[TaskCall], Awaitable[JsonValue]]


@dataclass(frozen=True)
class RegisteredFunction:
    """A registered function and where it runs."""

    name: str
    body: FunctionBody
    in_process: bool


WAIT_FOR_TOKEN = ".waitForTaskToken"


@dataclass(frozen=True)
class Resource:
    """A Task Resource ARN, classified: a Lambda function, or an integration key."""

    arn: str
    function: str | None = None
    key: str | None = None

    @property
    def wait_for_token(self) -> bool:
        """A callback task (`.waitForTaskToken`): it waits for SendTaskSuccess/Failure."""
        return (self.key or "").endswith(WAIT_FOR_TOKEN)

    @property
    def integration_key(self) -> str:
        """The key the integration is registered under (without `.waitForTaskToken`)."""
        key = self.key or ""
        return key[: -len(WAIT_FOR_TOKEN)] if key.endswith(WAIT_FOR_TOKEN) else key

    @property
    def resource_type(self) -> str:
        """The history's `resourceType` ("lambda", "states", "dynamodb"...)."""
        return "lambda" if self.function is not None else (self.key or "").split(":")[0]

    @property
    def resource_name(self) -> str:
        """The history's `resource` (the function ARN, or "invoke", "putItem"...)."""
        return self.arn if self.function is not None else (self.key or "").split(":", 1)[-1]


def function_name(name_or_arn: str) -> str:
    """The bare function name of a name, a full or partial function ARN (qualifier dropped).

    >>> function_name("arn:aws:lambda:eu-west-1:1:function:f:prod"), function_name("f")
    ('f', 'f')
    """
    parts = name_or_arn.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


def parse_resource(arn: str) -> Resource:
    """Classify a Task's Resource ARN."""
    if arn.startswith("arn:aws:states:::"):
        key = arn[len("arn:aws:states:::") :]
        return Resource(arn, key=key)
    if arn.startswith("arn:aws:lambda:") and ":function:" in arn:
        return Resource(arn, function=function_name(arn))
    return Resource(arn, function=arn)


class ResourceRegistry:
    """Maps function names and integration keys to local code."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}
        self._integrations: dict[str, Integration] = {}

    def register_function(
        self, name_or_arn: str, body: FunctionBody, *, in_process: bool = False
    ) -> None:
        """Register `body` as the Lambda function `name_or_arn` (a name or an ARN)."""
        name = function_name(name_or_arn)
        self._functions[name] = RegisteredFunction(name, body, in_process)

    def register_integration(self, key: str, handler: Integration) -> None:
        """Register an integration, e.g. `"dynamodb:putItem"` or `"apigateway:invoke"`."""
        self._integrations[key] = handler

    def function(self, name_or_arn: str) -> RegisteredFunction | None:
        """The function registered under this name (or the name in this ARN), or None."""
        return self._functions.get(function_name(name_or_arn)) or self._functions.get(name_or_arn)

    def integration(self, key: str) -> Integration | None:
        """The integration registered under `key`, or None."""
        return self._integrations.get(key)

    def integrations(self) -> list[str]:
        """Registered integration keys (for error messages)."""
        return sorted(self._integrations)


def call_safely(body: FunctionBody, event: JsonValue) -> tuple[bool, Any, Any]:
    """Run a function and return (True, result JSON text, None) or (False, error, cause).

    Runs inside worker processes: results cross the process boundary as JSON text and
    errors as plain strings, so nothing unpicklable ever has to travel back.
    """
    try:
        result = body(event)
        return True, json.dumps(result), None
    except StatesError as err:
        return False, err.error, err.cause
    except Exception as exc:
        name = type(exc).__name__
        cause = json.dumps(
            {
                "errorMessage": str(exc),
                "errorType": name,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        )
        return False, name, cause


async def call_function(
    fn: RegisteredFunction, event: JsonValue, pool: Callable[[], Any]
) -> JsonValue:
    """Run a registered function where it belongs and turn its failure into StatesError."""
    loop = asyncio.get_running_loop()
    executor = None if fn.in_process else pool()
    try:
        ok, value, cause = await loop.run_in_executor(executor, call_safely, fn.body, event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # pickling errors, a worker that died
        raise StatesError(
            TASK_FAILED,
            f"function {fn.name!r} could not run on the worker pool: {type(exc).__name__}: {exc}",
        ) from exc
    if not ok:
        raise StatesError(value, cause)
    return json.loads(value)


def missing_resource(resource: Resource, registry: ResourceRegistry) -> StatesError:
    """The error for a Task whose resource nothing local implements."""
    if resource.function is not None:
        return StatesError(
            "Lambda.ResourceNotFoundException",
            f"no local function registered for {resource.arn!r} "
            f"(register it with ResourceRegistry.register_function)",
        )
    return StatesError(
        RUNTIME,
        f"no local integration for {resource.arn!r}; registered: "
        f"{', '.join(registry.integrations()) or 'none'}",
    )
