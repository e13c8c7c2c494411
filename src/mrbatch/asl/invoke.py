"""The invoker: runs one Task invocation through a mock, a function or an integration.

It owns the worker pool of processes (created on first use, spawned so that it is safe to
start from the engine's threads) and the built-in `lambda:invoke` integration, whose result
has the shape AWS Step Functions returns (`Payload`, `StatusCode`, `ExecutedVersion`,
`SdkHttpMetadata`, `SdkResponseMetadata`).
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import StatesError
from mrbatch.asl.resources import (
    Integration,
    Resource,
    ResourceRegistry,
    TaskCall,
    call_function,
    missing_resource,
)

__all__ = ["Invoker", "MockSource"]


class MockSource(Protocol):
    """Mocked responses (the Step Functions Local MockConfigFile, see `mrbatch.asl.mock`)."""

    def respond(self, state_machine: str, execution_arn: str, state: str) -> JsonValue | None:
        """The mocked result for this invocation of `state`, None when `state` is not
        mocked; raises StatesError for a mocked `Throw`."""
        ...


class Invoker:
    """Calls Task resources for every execution of one engine."""

    def __init__(
        self,
        registry: ResourceRegistry,
        *,
        workers: int,
        mock: MockSource | None,
        builtins: dict[str, Integration],
        worker_initializer: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.mock = mock
        self._workers = workers
        self._worker_initializer = worker_initializer
        self._pool: ProcessPoolExecutor | None = None
        self._builtins = {"lambda:invoke": self._lambda_invoke, **builtins}

    def pool(self) -> ProcessPoolExecutor:
        """The worker pool, started on first use."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=context,
                initializer=self._worker_initializer,
            )
        return self._pool

    def close(self) -> None:
        """Stop the worker pool (running task bodies are abandoned)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def mocked(self, call: TaskCall) -> JsonValue | None:
        """The mocked response of this invocation, None when the state is not mocked."""
        if self.mock is None:
            return None
        machine = call.context["StateMachine"]["Name"]
        return self.mock.respond(machine, call.execution_arn, call.state_name)

    async def invoke(self, call: TaskCall, resource: Resource) -> JsonValue:
        """The task's raw result; raises StatesError with the task's error and cause."""
        mocked = self.mocked(call)
        if mocked is not None:
            return mocked
        return await self.call_resource(call, resource)

    async def call_resource(self, call: TaskCall, resource: Resource) -> JsonValue:
        """Invoke the resource itself (no mock)."""
        if resource.function is not None:
            fn = self.registry.function(resource.function)
            if fn is None:
                raise missing_resource(resource, self.registry)
            return await call_function(fn, call.parameters, self.pool)
        key = resource.integration_key
        handler = self.registry.integration(key) or self._builtins.get(key)
        if handler is None:
            raise missing_resource(resource, self.registry)
        return await handler(call)

    async def _lambda_invoke(self, call: TaskCall) -> JsonValue:
        params = call.parameters if isinstance(call.parameters, dict) else {}
        name = params.get("FunctionName")
        if not isinstance(name, str):
            raise StatesError("States.Runtime", "lambda:invoke needs a FunctionName string")
        fn = self.registry.function(name)
        if fn is None:
            raise missing_resource(Resource(name, function=name), self.registry)
        payload = await call_function(fn, params.get("Payload", {}), self.pool)
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, call.execution_arn + call.key))
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": request_id,
        }
        return {
            "ExecutedVersion": "$LATEST",
            "Payload": payload,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {k: [v] for k, v in headers.items()},
                "HttpHeaders": headers,
                "HttpStatusCode": 200,
            },
            "SdkResponseMetadata": {"RequestId": request_id},
            "StatusCode": 200,
        }
