"""The callback pattern (`.waitForTaskToken`): task tokens, waiting for them, resolving them.

A Task whose Resource ends in `.waitForTaskToken` sends its parameters (which carry
`$$.Task.Token`) and then waits until someone calls SendTaskSuccess, SendTaskFailure or
SendTaskHeartbeat with that token. Tokens live in the workflow database, so a token can be
resolved by the engine that runs the execution (`Engine.send_task_success`) or by another
process on the same database (`mrbatch executions send-task-success TOKEN`), and a waiting
execution survives a restart. The engine is woken at once by its own calls and finds other
processes' calls by reading the token again every `poll_seconds`.

AWS semantics kept: a token resolves once (a second call, or a call after the task timed out,
fails with TaskTimedOut); a string that is not a token this engine issues fails with
InvalidToken, a well-formed token no task holds with TaskDoesNotExist; with HeartbeatSeconds,
a task that hears nothing for that long fails with States.Timeout, which Retry and Catch
also match by States.HeartbeatTimeout (`errors.heartbeat_timeout` says why). This module
decides every refusal, so the engine, the CLI and the control API answer alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable
from typing import ClassVar, Final

from mrbatch.asl.definition import JsonValue
from mrbatch.asl.errors import heartbeat_timeout
from mrbatch.asl.store import Store
from mrbatch.errors import MrBatchError

__all__ = [
    "Callbacks",
    "InvalidOutputError",
    "InvalidTokenError",
    "TaskDoesNotExistError",
    "TaskTimedOutError",
    "TaskTokenError",
    "check_token",
    "heartbeat",
    "new_token",
    "resolve",
]

POLL_SECONDS: Final = 0.2

# `new_token` issues 64 lower-case hex digits. AWS's tokens are opaque; it answers a string that
# is not one of its tokens with InvalidToken and a token whose task no longer exists with
# TaskDoesNotExist. The shape is how we tell the two apart.
_TOKEN: Final = re.compile(r"^[0-9a-f]{64}$")


class TaskTokenError(MrBatchError):
    """A SendTask* call refused; `code` is the error name the Step Functions API gives it
    (what the control API answers, so an AWS SDK raises its own exception class)."""

    code: ClassVar[str] = "InvalidToken"


class TaskDoesNotExistError(TaskTokenError):
    """No task waits for this token (AWS: TaskDoesNotExist)."""

    code = "TaskDoesNotExist"


class TaskTimedOutError(TaskTokenError):
    """The token's task already finished: answered, failed or timed out (AWS: TaskTimedOut)."""

    code = "TaskTimedOut"


class InvalidTokenError(TaskTokenError):
    """The token is not one this engine could have issued (AWS: InvalidToken)."""

    code = "InvalidToken"


class InvalidOutputError(TaskTokenError):
    """SendTaskSuccess's output is not JSON (AWS: InvalidOutput)."""

    code = "InvalidOutput"


def new_token(execution_arn: str, attempt_key: str) -> str:
    """The token of one attempt of one callback task: stable on replay, unique otherwise.

    >>> new_token("arn:e", "/T#1.0") == new_token("arn:e", "/T#1.0")
    True
    """
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{execution_arn}|{attempt_key}").hex * 2


def check_token(token: object) -> str:
    """`token` if it is one `new_token` could have issued; else raises InvalidTokenError.

    >>> check_token("ab" * 32) == "ab" * 32
    True
    """
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise InvalidTokenError(f"Invalid token: {str(token)[:100]!r}")
    return token


def resolve(store: Store, token: str, outcome: dict[str, JsonValue]) -> None:
    """Give a waiting task its outcome ({"ok": output} or {"error", "cause"})."""
    check_token(token)
    if not store.resolve_task_token(token, outcome):
        raise _refusal(store, token)


def heartbeat(store: Store, token: str, now: float) -> None:
    """Tell a waiting task its worker is alive (restarts the HeartbeatSeconds clock)."""
    check_token(token)
    if not store.heartbeat_task_token(token, now):
        raise _refusal(store, token)


def _refusal(store: Store, token: str) -> MrBatchError:
    if store.task_token(token) is None:
        return TaskDoesNotExistError(f"Task does not exist anymore: no task has token {token!r}")
    return TaskTimedOutError(f"Task Timed Out: the task of token {token!r} has finished")


class Callbacks:
    """Waiting tasks of one engine; every method runs on the engine's event loop."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._wakers: dict[str, asyncio.Event] = {}

    def register(self, token: str, execution_arn: str, key: str) -> None:
        """Record the token before the task's message goes out (a fast worker may answer
        before the send returns)."""
        self._store.put_task_token(token, execution_arn, key, self._clock())

    def resolve(self, token: str, outcome: dict[str, JsonValue]) -> None:
        """`resolve` for a call made to this engine; wakes the waiting task at once."""
        resolve(self._store, token, outcome)
        self._wake(token)

    def heartbeat(self, token: str) -> None:
        """`heartbeat` for a call made to this engine."""
        heartbeat(self._store, token, self._clock())
        self._wake(token)

    def cancel(self, token: str, outcome: dict[str, JsonValue]) -> None:
        """Close a token whose task ended otherwise (TimeoutSeconds, a stop), so later
        calls are refused with TaskTimedOut."""
        self._store.resolve_task_token(token, outcome)

    async def wait(self, token: str, heartbeat_seconds: int | None) -> dict[str, JsonValue]:
        """The token's outcome, once there is one (or the heartbeat timeout's)."""
        waker = self._wakers.setdefault(token, asyncio.Event())
        try:
            while True:
                row = self._store.task_token(token)
                assert row is not None, "wait() before register()"
                _, beat, outcome = row
                if outcome is not None:
                    return dict(outcome)
                delay = POLL_SECONDS
                if heartbeat_seconds is not None:
                    left = beat + heartbeat_seconds - self._clock()
                    if left <= 0:
                        timed_out = _heartbeat_timeout()
                        self._store.resolve_task_token(token, timed_out)
                        continue  # read back whichever outcome won
                    delay = min(delay, left)
                waker.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker.wait(), delay)
        finally:
            self._wakers.pop(token, None)

    def _wake(self, token: str) -> None:
        waker = self._wakers.get(token)
        if waker is not None:
            waker.set()


def _heartbeat_timeout() -> dict[str, JsonValue]:
    """The outcome stored for a heartbeat expiry: no "cause" key, as AWS records none."""
    err = heartbeat_timeout()
    return {"error": err.error, "alsoMatches": list(err.also_matches), "timedOut": True}
