"""The Distributed Map body: a Map Run of child executions, each with its own history.

From the AWS Developer Guide ("Using Map state in Distributed mode"): "each child workflow
execution has its own, separate execution history from that of the parent workflow". So the
parent records only `MapRunStarted` and `MapRunSucceeded`/`MapRunFailed`, and each item (or
batch of items, with ItemBatcher) runs as a child execution of a state machine made from the
ItemProcessor, named `<parent>/<Label>`. A Map Run record (`Engine.describe_map_run`) keeps
the counts.

Steps: read the items (ItemsPath from the input, or ItemReader from the object store, off
the event loop), apply ItemSelector (`$$.Map.Item.Index/Value/Source`), batch them
(`{"Items": [...], "BatchInput": ...}`), run the children at most MaxConcurrency at a time,
count failed items against ToleratedFailureCount/Percentage (default 0: the first failed
child fails the run with States.ExceedToleratedFailureThreshold and the running children
are aborted), then return the results inline or through ResultWriter.

Children are named deterministically from the Map Run and their index, and StartExecution
with the same name and input returns the existing execution: a parent resumed after a
restart finds its children again instead of starting them twice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from mrbatch.asl.call import BodyFailure, StateCall
from mrbatch.asl.dataflow import apply_template, dumps
from mrbatch.asl.definition import UNSET, Distributed, JsonValue, MapState
from mrbatch.asl.errors import EXCEED_TOLERATED_FAILURE_THRESHOLD, RUNTIME, StatesError
from mrbatch.asl.fanout import STATE_DATA
from mrbatch.asl.itemreader import read_items
from mrbatch.asl.resultwriter import inline_result, write_results
from mrbatch.asl.store import ExecutionRecord, ExecutionStatus, MapRunRecord

__all__ = ["THRESHOLD_CAUSE", "run_distributed_map"]

THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
_ABORT_CAUSE = "the Map Run failed"


@dataclass
class _Children:
    """The child inputs of one Map Run and what became of them."""

    inputs: list[JsonValue]
    sizes: list[int]
    """Items in each child (1 without ItemBatcher)."""
    results: list[ExecutionRecord | None] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    failed_items: int = 0


async def run_distributed_map(
    call: StateCall, effective: JsonValue, attempt_key: str, retry_count: int
) -> JsonValue:
    """Run the Map Run; the result is the children's outputs (or ResultWriter's details)."""
    state = call.state
    assert isinstance(state, MapState) and state.distributed is not None
    dist, run = state.distributed, call.run
    items, source = await _items(call, dist, effective, retry_count)
    selected = _select_items(call, items, source, effective, retry_count, attempt_key)
    children = _batches(call, dist, selected, effective, retry_count)
    arn, child_machine = _names(call, dist, attempt_key)
    concurrency = call.number(
        "MaxConcurrency", state.expressions.get("MaxConcurrency", state.max_concurrency)
    )
    if state.max_concurrency_path:
        concurrency = call.path_number(
            "MaxConcurrencyPath", state.max_concurrency_path, effective, retry_count
        )
    count, pct = _thresholds(call, effective)
    run.emit(call.frame, f"{attempt_key}:maprun", "MapRunStarted", {"mapRunArn": arn})
    run.store.put_map_run(
        MapRunRecord(arn, run.arn, state.name, "RUNNING", concurrency, count, pct,
                     _counts(children, len(selected), running=True), run.clock())
    )  # fmt: skip
    try:
        await _run_children(call, arn, child_machine, children, concurrency, len(selected),
                            (count, pct))  # fmt: skip
    except _Exceeded as exceeded:
        err = StatesError(EXCEED_TOLERATED_FAILURE_THRESHOLD, exceeded.cause)
        _finish(call, arn, attempt_key, children, len(selected), err)
        raise BodyFailure(err, "MapRunFailed", {"error": err.error, "cause": err.cause}) from None
    except asyncio.CancelledError:
        if run.stopped:  # the parent was aborted: so is its Map Run (not on engine close)
            await _abort_running(call, children)
            _finish(call, arn, attempt_key, children, len(selected), None, aborted=True)
        raise
    result = await _result(call, dist, arn, children, effective, retry_count)
    _finish(call, arn, attempt_key, children, len(selected), None)
    return result


class _Exceeded(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


async def _items(
    call: StateCall, dist: Distributed, effective: JsonValue, retry_count: int
) -> tuple[list[JsonValue], str]:
    state = call.state
    assert isinstance(state, MapState)
    reader = dist.item_reader
    if reader is None and state.jsonata:
        items = effective if state.items is UNSET else call.query(state.items, "Items", retry_count)
    elif reader is None:
        items = call.select(state.items_path, effective, retry_count)
    if reader is None:
        if not isinstance(items, list):
            raise StatesError(
                RUNTIME,
                f"ItemsPath {state.items_path!r} of state {state.name!r} "
                f"selected {type(items).__name__}, not an array",
            )
        return items, STATE_DATA
    config: dict[str, Any] = dict(reader.get("ReaderConfig") or {})
    params = _arguments(call, reader, "ItemReader", effective, retry_count)
    max_items = call.number("MaxItems", config.get("MaxItems"), retry_count)
    if "MaxItemsPath" in config:
        max_items = call.path_number("MaxItemsPath", config["MaxItemsPath"], effective, retry_count)
        max_items = max_items or None  # recorded AWS: MaxItemsPath 0 reads every item
    objects = call.run.host.objects
    items = await asyncio.to_thread(
        read_items, objects, str(reader["Resource"]), config, params, max_items
    )
    where = f"s3://{params.get('Bucket')}/{params.get('Key', params.get('Prefix', ''))}"
    return items, where


def _arguments(
    call: StateCall,
    block: dict[str, JsonValue],
    name: str,
    effective: JsonValue,
    retry_count: int,
) -> Any:
    """An ItemReader's or ResultWriter's arguments: its Parameters template (JSONPath) or
    its Arguments' expressions (JSONata), over the state's input."""
    if call.state.jsonata:
        return call.query(block["Arguments"], f"{name}/Arguments", retry_count, input=effective)
    return call.template(block["Parameters"], effective, retry_count)


def _select_items(
    call: StateCall,
    items: list[JsonValue],
    source: str,
    effective: JsonValue,
    retry_count: int,
    attempt_key: str,
) -> list[JsonValue]:
    state = call.state
    assert isinstance(state, MapState)
    if state.item_selector is UNSET:
        return items
    base = call.context(retry_count)
    selected = []
    for i, item in enumerate(items):
        context = dict(base, Map={"Item": {"Index": i, "Value": item, "Source": source}})
        key = f"{attempt_key}[{i}]"
        if state.jsonata:
            value = call.query(
                state.item_selector, "ItemSelector", key=key, input=effective, context=context
            )
        else:
            value = apply_template(
                state.item_selector,
                effective,
                context,
                call.run.rng(key),
                variables=call.frame.variables,
            )
        selected.append(value)
    return selected


def _batches(
    call: StateCall,
    dist: Distributed,
    items: list[JsonValue],
    effective: JsonValue,
    retry_count: int,
) -> _Children:
    batcher = dist.item_batcher
    if batcher is None:
        return _Children(list(items), [1] * len(items))
    most_items = call.number("MaxItemsPerBatch", batcher.get("MaxItemsPerBatch"), retry_count)
    if "MaxItemsPerBatchPath" in batcher:
        path = batcher["MaxItemsPerBatchPath"]
        most_items = call.path_number("MaxItemsPerBatchPath", path, effective, retry_count)
    most_bytes = call.number(
        "MaxInputBytesPerBatch", batcher.get("MaxInputBytesPerBatch"), retry_count
    )
    if "MaxInputBytesPerBatchPath" in batcher:
        path = batcher["MaxInputBytesPerBatchPath"]
        most_bytes = call.path_number("MaxInputBytesPerBatchPath", path, effective, retry_count)
    shell: dict[str, JsonValue] = {"Items": []}
    if "BatchInput" in batcher and call.state.jsonata:
        shell["BatchInput"] = call.query(
            batcher["BatchInput"], "ItemBatcher/BatchInput", retry_count, input=effective
        )
    elif "BatchInput" in batcher:
        shell["BatchInput"] = call.template(batcher["BatchInput"], effective, retry_count)
    inputs: list[JsonValue] = []
    current: list[JsonValue] = []
    size = base = len(dumps(shell).encode())
    for item in items:
        grown = size + len(dumps(item).encode()) + (1 if current else 0)
        full = (most_items is not None and len(current) >= int(most_items)) or (
            most_bytes is not None and grown > int(most_bytes)
        )
        if current and full:
            inputs.append(dict(shell, Items=current))
            current, size = [], base
            grown = size + len(dumps(item).encode())
        current.append(item)
        size = grown
    if current:
        inputs.append(dict(shell, Items=current))
    return _Children(inputs, [len(i["Items"]) for i in inputs])


def _names(call: StateCall, dist: Distributed, attempt_key: str) -> tuple[str, str]:
    """(Map Run ARN, child state machine ARN). AWS: the Map Run's state machine is
    `stateMachine:<name>/<Label or UUID>`, the run `mapRun:<name>/<label>:<id>`."""
    run = call.run
    _arn, _aws, _states, region, account, _kind, machine = run.state_machine_arn.split(":", 6)
    label = dist.label or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{run.state_machine_arn}|{call.state.name}")
    )
    child_machine = run.host.child_machine(f"{machine}/{label}", dist.processor)
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{run.arn}|{attempt_key}")
    return f"arn:aws:states:{region}:{account}:mapRun:{machine}/{label}:{run_id}", child_machine


def _thresholds(call: StateCall, effective: JsonValue) -> tuple[int | None, float | None]:
    state = call.state
    assert isinstance(state, MapState)
    expressions = state.expressions
    count: Any = call.number(
        "ToleratedFailureCount",
        expressions.get("ToleratedFailureCount", state.tolerated_failure_count),
    )
    pct: Any = call.number(
        "ToleratedFailurePercentage",
        expressions.get("ToleratedFailurePercentage", state.tolerated_failure_percentage),
    )
    if state.tolerated_failure_count_path:
        path = state.tolerated_failure_count_path
        count = call.path_number("ToleratedFailureCountPath", path, effective)
    if state.tolerated_failure_percentage_path:
        path = state.tolerated_failure_percentage_path
        pct = call.path_number("ToleratedFailurePercentagePath", path, effective)
    return (None if count is None else int(count)), (None if pct is None else float(pct))


def _exceeded(failed: int, total: int, count: int | None, pct: float | None) -> bool:
    """AWS: the run fails when failed items exceed either threshold; with neither set
    (percentage 0 by default) one failed item is too many."""
    if count is None and pct is None:
        return failed > 0
    over_count = count is not None and failed > count
    over_pct = pct is not None and failed * 100.0 > pct * total
    return over_count or over_pct


async def _run_children(
    call: StateCall,
    map_run: str,
    machine: str,
    children: _Children,
    concurrency: int,
    total: int,
    thresholds: tuple[int | None, float | None],
) -> None:
    host = call.run.host
    children.results = [None] * len(children.inputs)
    gate = asyncio.Semaphore(concurrency if concurrency > 0 else max(1, len(children.inputs)))

    async def child(index: int) -> None:
        async with gate:
            name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{map_run}|{index}"))
            started = await host.start_child(machine, name, children.inputs[index])
            children.running.add(started.arn)
            done = await host.wait_child(started.arn)
            children.running.discard(started.arn)
        children.results[index] = done
        if done.status is not ExecutionStatus.SUCCEEDED:
            children.failed_items += children.sizes[index]
            if _exceeded(children.failed_items, total, *thresholds):
                raise _Exceeded(f"{THRESHOLD_CAUSE} (first failure: {done.error}: {done.cause})")

    tasks = [asyncio.ensure_future(child(i)) for i in range(len(children.inputs))]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
    failures = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
    if failures:
        await _abort_running(call, children)
        raise failures[0]  # type: ignore[misc]


async def _abort_running(call: StateCall, children: _Children) -> None:
    for arn in sorted(children.running):
        await call.run.host.stop_child(arn, EXCEED_TOLERATED_FAILURE_THRESHOLD, _ABORT_CAUSE)


async def _result(
    call: StateCall,
    dist: Distributed,
    map_run: str,
    children: _Children,
    effective: JsonValue,
    retry_count: int,
) -> JsonValue:
    done = [r for r in children.results if r is not None]
    writer = dist.result_writer
    if writer is None or "Resource" not in writer:
        config = (writer or {}).get("WriterConfig") or {}
        return inline_result(done, config.get("Transformation", "COMPACT"))
    params = _arguments(call, writer, "ResultWriter", effective, retry_count)
    objects = call.run.host.objects
    return await asyncio.to_thread(write_results, objects, writer, params, map_run, done)


def _counts(children: _Children, total: int, *, running: bool = False) -> dict[str, int]:
    succeeded = sum(
        size
        for size, r in zip(children.sizes, children.results or [], strict=False)
        if r is not None and r.status is ExecutionStatus.SUCCEEDED
    )
    finished = succeeded + children.failed_items
    return {
        "total": total,
        "succeeded": succeeded,
        "failed": children.failed_items,
        "running": total if running else 0,
        "aborted": 0 if running else total - finished,
    }


def _finish(
    call: StateCall,
    arn: str,
    attempt_key: str,
    children: _Children,
    total: int,
    err: StatesError | None,
    *,
    aborted: bool = False,
) -> None:
    run = call.run
    status = "ABORTED" if aborted else "FAILED" if err is not None else "SUCCEEDED"
    run.store.finish_map_run(
        arn,
        status,
        _counts(children, total),
        error=None if err is None else err.error,
        cause=None if err is None else err.cause,
        stop_date=run.clock(),
    )
    if err is None and not aborted:  # a failure's MapRunFailed is the BodyFailure's event
        run.emit(call.frame, f"{attempt_key}:maprun-end", "MapRunSucceeded")
