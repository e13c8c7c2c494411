"""Errors of the ASL engine: runtime errors named as in the States Language, and load errors.

A running state machine fails with an *error name* and a *cause*; Retry and Catch match on the
name (`ErrorEquals`). `StatesError` carries both, so the engine can raise it from anywhere
(a path that does not resolve, an intrinsic with bad arguments, a task that failed) and the
retry/catch logic can match `err.error` against the rules. The predefined names are spelled
exactly as in the specification (https://states-language.net/#appendix-a-predefined-error-codes)
so definitions that deploy to AWS Step Functions match the same errors locally.

`DefinitionError` is different: the definition itself is wrong (bad path syntax, an unknown
Choice operator, a missing field). It is raised while loading, names the offending state, and
never reaches Retry/Catch.
"""

from __future__ import annotations

from typing import Final

from mrbatch.errors import MrBatchError

__all__ = [
    "ALL",
    "BRANCH_FAILED",
    "DATA_LIMIT_EXCEEDED",
    "EXCEED_TOLERATED_FAILURE_THRESHOLD",
    "HEARTBEAT_TIMEOUT",
    "INTRINSIC_FAILURE",
    "ITEM_READER_FAILED",
    "NO_CHOICE_MATCHED",
    "PARAMETER_PATH_FAILURE",
    "PERMISSIONS",
    "PREDEFINED_ERRORS",
    "QUERY_EVALUATION_ERROR",
    "RESULT_PATH_MATCH_FAILURE",
    "RESULT_WRITER_FAILED",
    "RUNTIME",
    "TASK_FAILED",
    "TIMEOUT",
    "DefinitionError",
    "StatesError",
    "heartbeat_timeout",
]

ALL: Final = "States.ALL"
HEARTBEAT_TIMEOUT: Final = "States.HeartbeatTimeout"
TIMEOUT: Final = "States.Timeout"
TASK_FAILED: Final = "States.TaskFailed"
PERMISSIONS: Final = "States.Permissions"
RESULT_PATH_MATCH_FAILURE: Final = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE: Final = "States.ParameterPathFailure"
QUERY_EVALUATION_ERROR: Final = "States.QueryEvaluationError"
BRANCH_FAILED: Final = "States.BranchFailed"
NO_CHOICE_MATCHED: Final = "States.NoChoiceMatched"
INTRINSIC_FAILURE: Final = "States.IntrinsicFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD: Final = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED: Final = "States.ItemReaderFailed"
RESULT_WRITER_FAILED: Final = "States.ResultWriterFailed"
DATA_LIMIT_EXCEEDED: Final = "States.DataLimitExceeded"
RUNTIME: Final = "States.Runtime"

PREDEFINED_ERRORS: Final[frozenset[str]] = frozenset(
    {
        ALL,
        HEARTBEAT_TIMEOUT,
        TIMEOUT,
        TASK_FAILED,
        PERMISSIONS,
        RESULT_PATH_MATCH_FAILURE,
        PARAMETER_PATH_FAILURE,
        QUERY_EVALUATION_ERROR,
        BRANCH_FAILED,
        NO_CHOICE_MATCHED,
        INTRINSIC_FAILURE,
        EXCEED_TOLERATED_FAILURE_THRESHOLD,
        ITEM_READER_FAILED,
        RESULT_WRITER_FAILED,
        DATA_LIMIT_EXCEEDED,
        RUNTIME,
    }
)
"""Every error name the specification reserves (names starting "States." are reserved)."""


class StatesError(MrBatchError):
    """A run-time error of a state machine: an error name for Retry/Catch and a cause for people.

    >>> err = StatesError(RUNTIME, "path '$.a' not found in the input")
    >>> (err.error, err.cause)
    ('States.Runtime', "path '$.a' not found in the input")
    """

    def __init__(
        self, error: str | None, cause: str | None, *, also_matches: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{error}: {cause}")
        # None only for a Fail state without Error/Cause, or a timeout: AWS then reports no
        # error / no cause at all (absent fields), not empty strings
        self.error = error
        self.cause = cause
        # names Retry and Catch also match this error by, though it is reported as `error`:
        # a heartbeat expiry is reported as States.Timeout and matched by
        # States.HeartbeatTimeout too (see `heartbeat_timeout`)
        self.also_matches = also_matches


def heartbeat_timeout() -> StatesError:
    """The error of a Task whose HeartbeatSeconds passed without a heartbeat.

    AWS's error names: States.Timeout is "A Task state either ran longer than the
    TimeoutSeconds value, or failed to send a heartbeat for a period longer than the
    HeartbeatSeconds value"; States.HeartbeatTimeout is the heartbeat case alone and "is only
    available inside the Catch and Retry fields". Recorded AWS histories (LocalStack's
    AWS-validated test_heartbeats snapshots, a `.waitForTaskToken` task) report it as
    {"error": "States.Timeout"} in TaskTimedOut and ExecutionFailed, with no cause. So the
    error is States.Timeout without a cause, and States.HeartbeatTimeout only a name Retry
    and Catch match it by.

    >>> err = heartbeat_timeout()
    >>> (err.error, err.cause, err.also_matches)
    ('States.Timeout', None, ('States.HeartbeatTimeout',))
    """
    return StatesError(TIMEOUT, None, also_matches=(HEARTBEAT_TIMEOUT,))


class DefinitionError(MrBatchError):
    """A state machine definition is invalid; the message names the state when there is one.

    >>> str(DefinitionError("bad path '$..a'", state="Check"))
    "state 'Check': bad path '$..a'"
    """

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(f"state {state!r}: {message}" if state is not None else message)
        self.message = message
        self.state = state
