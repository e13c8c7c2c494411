"""SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat as the Step Functions API takes them,
for engines that run in other processes (a stack's regions), over their workflow databases.

The engine that runs a callback task finds the answer in its database (see `callback`), so
whoever can write that database can answer: the control API of a running stack (one
database per region, the token is in one of them) and `mrbatch executions send-task-*`.
Arguments are checked as the API checks them, with its error names (`TaskTokenError.code`):
an output that is not JSON is InvalidOutput here; the token's refusals (InvalidToken,
TaskDoesNotExist, TaskTimedOut) are decided by `callback`, as for the engine's own calls.

>>> tokens = TaskTokens([Path("run/us-east-1/workflows.db")])
>>> tokens.send_task_success("0f" * 32, '{"approved": true}')  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mrbatch.asl import callback
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.store import Store

__all__ = ["TaskTokens"]


class TaskTokens:
    """The SendTask* calls over the workflow databases of engines running elsewhere.

    Databases that do not exist (a region that never ran) are skipped, never created.
    Every call opens the databases afresh: the answer is one small transaction, and an
    open connection would pin a database its region may be replacing.
    """

    def __init__(
        self, databases: Sequence[Path], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._databases = tuple(databases)
        self._clock = clock

    def send_task_success(self, token: str, output: str) -> None:
        """The task of `token` succeeds with `output` (JSON text, as the API takes it).
        Raises a `callback.TaskTokenError` (InvalidOutput, InvalidToken, TaskDoesNotExist,
        TaskTimedOut). Not idempotent: a second call is TaskTimedOut, as on AWS."""
        try:
            result: JsonValue = json.loads(output)
        except (TypeError, ValueError):
            raise callback.InvalidOutputError(
                f"Invalid Output: the output is not valid JSON: {output[:100]!r}"
            ) from None
        self._with_token_store(token, lambda store: callback.resolve(store, token, {"ok": result}))

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        """The task of `token` fails with `error` and `cause` (its Retry and Catch apply).
        Raises as `send_task_success` does (but never InvalidOutput)."""
        outcome: dict[str, JsonValue] = {"error": error, "cause": cause}
        self._with_token_store(token, lambda store: callback.resolve(store, token, outcome))

    def send_task_heartbeat(self, token: str) -> None:
        """Restart the HeartbeatSeconds clock of the task of `token` (idempotent while the
        task waits). Raises InvalidToken, TaskDoesNotExist or TaskTimedOut."""
        now = self._clock()
        self._with_token_store(token, lambda store: callback.heartbeat(store, token, now))

    def _with_token_store(self, token: str, action: Callable[[Store], None]) -> None:
        """Run `action` on the database that holds `token`."""
        callback.check_token(token)  # before the search: an invalid token is in no database
        for path in self._databases:
            if not path.exists():
                continue
            store = Store(path)
            try:
                if store.task_token(token) is not None:
                    action(store)
                    return
            finally:
                store.close()
        raise callback.TaskDoesNotExistError(
            f"Task does not exist anymore: no task has token {token!r}"
        )
