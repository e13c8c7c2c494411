"""The Map and Parallel bodies: run sub-programs concurrently on the engine's event loop.

Each iteration or branch runs in its own `Frame` whose path extends the parent's key
(`/Process#1.0[3]` for item 3 of the first attempt of the first visit of "Process"), so the
keys of its events and task outcomes are unique and stable across a restart.

Failure semantics follow AWS Step Functions: the first failing branch or iteration fails the
state with that branch's or iteration's own error and cause, and the others are stopped
(MapIterationAborted). With ToleratedFailureCount/Percentage, failed iterations are counted;
the state fails with States.ExceedToleratedFailureThreshold once the count exceeds the
threshold, and otherwise succeeds with `{"Error", "Cause"}` in the failed items' places.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Final

from mrbatch.asl.call import BodyFailure, StateCall
from mrbatch.asl.dataflow import apply_template
from mrbatch.asl.definition import UNSET, JsonValue, MapState, ParallelState
from mrbatch.asl.errors import EXCEED_TOLERATED_FAILURE_THRESHOLD, RUNTIME, StatesError

__all__ = ["STATE_DATA", "run_map", "run_parallel"]

STATE_DATA: Final = "STATE_DATA"
"""`$$.Map.Item.Source` of an item read from the state's input (not from an ItemReader)."""


async def run_parallel(
    call: StateCall, effective: JsonValue, attempt_key: str, retry_count: int
) -> JsonValue:
    """Run every branch on the same input; the result is the list of branch outputs."""
    state = call.state
    assert isinstance(state, ParallelState)
    run = call.run
    data = call.template(state.parameters, effective, retry_count, attempt_key)
    run.emit(call.frame, f"{attempt_key}:started", "ParallelStateStarted")
    frames = [call.frame.child(f"{attempt_key}/Branch[{i}]") for i in range(len(state.branches))]
    tasks = [
        asyncio.ensure_future(call.run_program(branch, data, frame))
        for branch, frame in zip(state.branches, frames, strict=True)
    ]
    try:
        results = await _all_or_first_failure(tasks)
    except StatesError as err:
        raise BodyFailure(
            err, "ParallelStateFailed", {"error": err.error, "cause": err.cause}
        ) from None
    run.emit(call.frame, f"{attempt_key}:succeeded", "ParallelStateSucceeded")
    return results


async def _all_or_first_failure(tasks: Sequence[asyncio.Future[JsonValue]]) -> list[JsonValue]:
    if not tasks:  # a Map over an empty array, or a Parallel without branches
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
    # retrieve every failure (not only the first), so asyncio reports none as unretrieved
    failures = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
    if failures:
        raise failures[0]  # type: ignore[misc]
    return [t.result() for t in tasks]


class _Tolerance:
    """Counts failed iterations against the state's thresholds."""

    def __init__(self, call: StateCall, data: JsonValue, total: int) -> None:
        state = call.state
        assert isinstance(state, MapState)
        expressions = state.expressions
        count = call.number(
            "ToleratedFailureCount",
            expressions.get("ToleratedFailureCount", state.tolerated_failure_count),
        )
        pct = call.number(
            "ToleratedFailurePercentage",
            expressions.get("ToleratedFailurePercentage", state.tolerated_failure_percentage),
        )
        if state.tolerated_failure_count_path:
            path = state.tolerated_failure_count_path
            count = call.path_number("ToleratedFailureCountPath", path, data)
        if state.tolerated_failure_percentage_path:
            path = state.tolerated_failure_percentage_path
            pct = call.path_number("ToleratedFailurePercentagePath", path, data)
        self.count, self.pct, self.total, self.failed = count, pct, total, 0

    @property
    def enabled(self) -> bool:
        return self.count is not None or self.pct is not None

    def exceeded(self) -> bool:
        """Whether the failures so far are more than tolerated (one more failure)."""
        self.failed += 1
        if not self.enabled:
            return True
        over_count = self.count is not None and self.failed > self.count
        over_pct = self.pct is not None and self.failed * 100.0 > self.pct * self.total
        return over_count or over_pct


async def run_map(
    call: StateCall, effective: JsonValue, attempt_key: str, retry_count: int
) -> JsonValue:
    """Run the iterator once per item of ItemsPath; the result is the list of outputs."""
    state = call.state
    assert isinstance(state, MapState)
    run = call.run
    if state.jsonata:
        items = effective if state.items is UNSET else call.query(state.items, "Items", retry_count)
    else:
        items = call.select(state.items_path, effective, retry_count)
    if not isinstance(items, list):
        raise StatesError(
            RUNTIME,
            f"ItemsPath {state.items_path!r} of state {state.name!r} "
            f"selected {type(items).__name__}, not an array",
        )
    concurrency = call.number(
        "MaxConcurrency",
        state.expressions.get("MaxConcurrency", state.max_concurrency),
        retry_count,
    )
    if state.max_concurrency_path:
        concurrency = call.path_number(
            "MaxConcurrencyPath", state.max_concurrency_path, effective, retry_count
        )
    run.emit(call.frame, f"{attempt_key}:started", "MapStateStarted", {"length": len(items)})
    tolerance = _Tolerance(call, effective, len(items))
    results: list[JsonValue] = [None] * len(items)
    failure: list[StatesError] = []
    started: set[int] = set()
    base_ctx = call.context(retry_count)

    async def iteration(index: int) -> None:
        item = items[index]
        # "STATE_DATA": the items came from the state's input (AWS context object, Map)
        ctx = dict(base_ctx, Map={"Item": {"Index": index, "Value": item, "Source": STATE_DATA}})
        data = (
            item
            if state.item_selector is UNSET
            else call.query(
                state.item_selector,
                "ItemSelector",
                key=f"{attempt_key}[{index}]",
                input=effective,
                context=ctx,
            )
            if state.jsonata
            else apply_template(
                state.item_selector,
                effective,
                ctx,
                run.rng(f"{attempt_key}[{index}]"),
                variables=call.frame.variables,
            )
        )
        frame = call.frame.child(f"{attempt_key}[{index}]")
        ev = {"name": state.name, "index": index}
        run.emit(frame, f"{frame.path}:started", "MapIterationStarted", ev)
        started.add(index)
        try:
            results[index] = await call.run_program(state.iterator, data, frame)
        except StatesError as err:
            started.discard(index)
            run.emit(frame, f"{frame.path}:failed", "MapIterationFailed", ev)
            results[index] = {"Error": err.error, "Cause": err.cause}
            if tolerance.exceeded():
                failure.append(_threshold_error(err, tolerance))
                raise _StopMap from None
            return
        started.discard(index)
        run.emit(frame, f"{frame.path}:succeeded", "MapIterationSucceeded", ev)

    try:
        await _run_bounded(iteration, len(items), concurrency)
    except _StopMap:
        for index in sorted(started):
            frame = call.frame.child(f"{attempt_key}[{index}]")
            run.emit(
                frame,
                f"{frame.path}:aborted",
                "MapIterationAborted",
                {"name": state.name, "index": index},
            )
        err = failure[0]
        raise BodyFailure(err, "MapStateFailed", {"error": err.error, "cause": err.cause}) from None
    run.emit(call.frame, f"{attempt_key}:succeeded", "MapStateSucceeded")
    return results


class _StopMap(Exception):
    """Internal: an iteration failed beyond tolerance; stop the others."""


def _threshold_error(err: StatesError, tolerance: _Tolerance) -> StatesError:
    if not tolerance.enabled:
        return err
    return StatesError(
        EXCEED_TOLERATED_FAILURE_THRESHOLD,
        f"The specified tolerated failure threshold was exceeded: {tolerance.failed} of "
        f"{tolerance.total} iterations failed (last: {err.error})",
    )


async def _run_bounded(work: object, total: int, concurrency: int) -> None:
    """Run `work(i)` for every index with at most `concurrency` at once (0: no limit);
    the first exception cancels the rest and propagates."""
    assert callable(work)
    indices: Iterator[int] = iter(range(total))
    workers = total if concurrency <= 0 else min(concurrency, total)

    async def worker() -> None:
        for index in indices:
            await work(index)

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    await _all_or_first_failure(tasks)
