"""One running execution: its identity, its history recorder, its memo, and its frames.

Resume works by replay: a resumed execution runs the interpreter again from StartAt. Every
history event and every non-deterministic outcome (a task's result, a Wait's wake-up time)
has a deterministic key built from the frame path, the state name, the visit number and the
attempt, e.g. `/Process#1.0[3]/Validate#1`. Replaying finds the keys already stored: events
are not emitted again (their ids and timestamps are reused) and tasks are not called again.
Random values (States.UUID, MathRandom, retry jitter) come from a `random.Random` seeded with
the execution ARN and the key, so they replay identically without being stored.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from mrbatch.asl.dataflow import iso_timestamp
from mrbatch.asl.definition import JsonValue, StateMachineDefinition
from mrbatch.asl.store import HistoryEvent, Store
from mrbatch.asl.variables import VariableBudget

if TYPE_CHECKING:
    from mrbatch.asl.callback import Callbacks
    from mrbatch.asl.invoke import Invoker
    from mrbatch.asl.resources import ExecutionHost

__all__ = ["MAX_HISTORY_EVENTS", "Frame", "HistoryLimitReachedError", "Run"]

MAX_HISTORY_EVENTS: Final = 25_000
"""AWS's hard quota of events in one execution's history; the last is kept for its end."""

HISTORY_LIMIT_CAUSE: Final = "The execution reached the maximum number of history events (25000)."
"""The cause AWS records in the ExecutionFailed event (error States.Runtime)."""

_EXECUTION_ENDS: Final = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)


class HistoryLimitReachedError(Exception):
    """Event 25,000 would not end the execution. Deliberately not a StatesError: no Catch,
    no Retry, no tolerated Map failure may absorb it; the engine fails the execution with
    States.Runtime and ExecutionFailed as event 25,000, as AWS records it."""


@dataclass
class Frame:
    """A sequence of states run one after another: the top level, a branch, an iteration."""

    path: str
    last_event_id: int
    visits: dict[str, int] = field(default_factory=dict)
    variables: ChainMap[str, JsonValue] = field(default_factory=ChainMap)
    """The workflow variables this frame sees; Assign writes to the first map."""
    variable_sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each variable of this frame's own scope (`variables.VariableBudget`)."""

    def visit(self, state: str) -> int:
        """Count one more visit of `state` in this frame and return its number (1-based)."""
        n = self.visits.get(state, 0) + 1
        self.visits[state] = n
        return n

    def child(self, path: str) -> Frame:
        """A nested frame whose first event follows this frame's last one, with its own
        variable scope inside this one's (a Map iteration or a Parallel branch)."""
        return Frame(path, self.last_event_id, variables=self.variables.new_child())


class Run:
    """Everything the interpreter needs about one execution while it runs."""

    def __init__(
        self,
        *,
        store: Store,
        arn: str,
        name: str,
        state_machine_arn: str,
        state_machine_name: str,
        definition: StateMachineDefinition,
        input: JsonValue,
        start_date: float,
        role_arn: str,
        invoker: Invoker,
        host: ExecutionHost,
        region: str,
        no_wait: bool,
        resumed: bool,
        callbacks: Callbacks,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.arn = arn
        self.name = name
        self.state_machine_arn = state_machine_arn
        self.definition = definition
        self.input = input
        self.start_date = start_date
        self.invoker = invoker
        self.callbacks = callbacks
        self.host = host
        self.region = region
        self.no_wait = no_wait
        self.clock = clock
        self.stopped = False
        self._known = store.event_keys(arn) if resumed else {}
        self._next_id = store.last_event_id(arn) + 1 if resumed else 1
        self.memo: dict[str, JsonValue] = store.memos(arn) if resumed else {}
        self.variable_budget = VariableBudget()
        """What the execution's variables weigh, against AWS's 10 MiB quota."""
        self._flush_scheduled = False
        self.execution_context: dict[str, JsonValue] = {
            "Id": arn,
            "Input": input,
            "Name": name,
            "RoleArn": role_arn,
            "StartTime": iso_timestamp(start_date),
            "RedriveCount": 0,
        }
        self.state_machine_context = {"Id": state_machine_arn, "Name": state_machine_name}

    # --- history ---------------------------------------------------------------------------

    def emit(
        self,
        frame: Frame | None,
        key: str | None,
        type_: str,
        details: dict[str, JsonValue] | None = None,
    ) -> float:
        """Record an event once per key; returns its timestamp (the stored one on replay)."""
        if key is not None and key in self._known:
            event_id, ts = self._known[key]
            if frame is not None:
                frame.last_event_id = event_id
            return ts
        if self._next_id >= MAX_HISTORY_EVENTS and type_ not in _EXECUTION_ENDS:
            raise HistoryLimitReachedError(HISTORY_LIMIT_CAUSE)
        ts = self.clock()
        previous = frame.last_event_id if frame is not None else self._next_id - 1
        event = HistoryEvent(self._next_id, previous, ts, type_, details)
        self._next_id += 1
        if frame is not None:
            frame.last_event_id = event.id
        self.store.buffer_event(self.arn, event, key)
        self._schedule_flush()
        return ts

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.store.flush()

    # --- memo ------------------------------------------------------------------------------

    def remember(self, key: str, value: JsonValue) -> None:
        """Durably record an outcome under `key` (flushing the events before it)."""
        self.memo[key] = value
        self.store.put_memo(self.arn, key, value)

    def rng(self, key: str) -> random.Random:
        """A random source that gives the same values every time this key is replayed."""
        return random.Random(f"{self.arn}|{key}")

    async def durable_sleep(self, key: str, seconds: float) -> None:
        """Sleep `seconds`, surviving a restart: the wake-up time is memoised under `key`.
        With `no_wait` the sleep is skipped (it is still recorded in the history)."""
        if self.no_wait or seconds <= 0:
            return
        wake = self.memo.get(key)
        if not isinstance(wake, int | float):
            wake = self.clock() + seconds
            self.remember(key, wake)
        remaining = float(wake) - self.clock()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def sleep_until(self, key: str, wake: float) -> None:
        """Sleep until an absolute time (Wait with a Timestamp); skipped with `no_wait`."""
        if self.no_wait:
            return
        remaining = wake - self.clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
