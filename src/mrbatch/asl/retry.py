"""Retry and Catch decisions: which rule matches an error, and how long to wait before a retry.

Pure functions over the parsed rules, so the interpreter stays a plain loop and the backoff
arithmetic is testable on its own. The rules follow AWS Step Functions:

- a rule matches when the error name is in its ErrorEquals, or ErrorEquals is States.ALL;
- States.ALL matches neither States.Runtime nor States.DataLimitExceeded (terminal errors);
  States.Runtime cannot be retried or caught at all;
- States.TaskFailed "acts as a wildcard that matches any known error name except for
  States.Timeout" (AWS error-handling guide), terminal errors excepted like States.ALL.
  LocalStack's reimplementation matches only non-`States.` errors with it; we follow the
  AWS documentation, which is wider (a custom error or States.Permissions matches);
- a heartbeat expiry is the error States.Timeout, which a rule also matches by
  States.HeartbeatTimeout (`StatesError.also_matches`, see `errors.heartbeat_timeout`): so
  States.HeartbeatTimeout matches only a heartbeat expiry, States.Timeout and States.ALL
  match it and a TimeoutSeconds expiry, States.TaskFailed matches neither;
- each retrier counts its own attempts; once a matching retrier is exhausted, no later
  retrier is tried (the error goes to Catch);
- delay = IntervalSeconds * BackoffRate ** (attempt - 1), capped at MaxDelaySeconds, then
  with JitterStrategy FULL a uniform random value in [0, delay).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mrbatch.asl.definition import Catcher, Retrier
from mrbatch.asl.errors import ALL, DATA_LIMIT_EXCEEDED, RUNTIME, TASK_FAILED, TIMEOUT

__all__ = ["RetryState", "find_catcher", "matches", "retry_delay"]

_TERMINAL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


def matches(
    error_equals: Sequence[str], error: str | None, also_matches: Sequence[str] = ()
) -> bool:
    """Whether a rule with this ErrorEquals applies to the error name (None: a Fail state
    without Error, which only States.ALL matches) or to one of the names the error is also
    matched by.

    >>> matches(["States.ALL"], "States.TaskFailed"), matches(["States.ALL"], "States.Runtime")
    (True, False)
    >>> task_failed = ["States.TaskFailed"]
    >>> matches(task_failed, "Custom.Error"), matches(task_failed, "States.Timeout")
    (True, False)
    >>> beat, heartbeat_expiry = ["States.HeartbeatTimeout"], ["States.HeartbeatTimeout"]
    >>> matches(beat, "States.Timeout", heartbeat_expiry), matches(beat, "States.Timeout")
    (True, False)
    """
    if error == RUNTIME:
        return False
    if error is not None and error in error_equals:
        return True
    if any(name in error_equals for name in also_matches):
        return True
    if error in _TERMINAL:
        return False
    return ALL in error_equals or (TASK_FAILED in error_equals and error not in (TIMEOUT, None))


def find_catcher(
    catchers: Sequence[Catcher], error: str | None, also_matches: Sequence[str] = ()
) -> Catcher | None:
    """The first catcher whose ErrorEquals matches, or None."""
    return next((c for c in catchers if matches(c.error_equals, error, also_matches)), None)


def retry_delay(retrier: Retrier, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1-based) under this retrier."""
    delay = retrier.interval_seconds * retrier.backoff_rate ** (attempt - 1)
    if retrier.max_delay_seconds is not None:
        delay = min(delay, float(retrier.max_delay_seconds))
    if retrier.jitter_full:
        delay = rng.uniform(0.0, delay)
    return delay


class RetryState:
    """Attempts used per retrier, for one visit of one state."""

    def __init__(self, retriers: Sequence[Retrier]) -> None:
        self._retriers = retriers
        self._used = [0] * len(retriers)

    @property
    def retry_count(self) -> int:
        """Retries done so far (the context object's `$$.State.RetryCount`)."""
        return sum(self._used)

    def next_retry(
        self, error: str | None, rng: random.Random, also_matches: Sequence[str] = ()
    ) -> float | None:
        """Consume one attempt of the first matching retrier and return its delay, or None
        when no retrier matches or the matching one is exhausted."""
        for i, retrier in enumerate(self._retriers):
            if matches(retrier.error_equals, error, also_matches):
                if self._used[i] >= retrier.max_attempts:
                    return None
                self._used[i] += 1
                return retry_delay(retrier, self._used[i], rng)
        return None
