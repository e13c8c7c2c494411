"""The Distributed Map: child executions with their own histories, Map Run records, ItemReader
over an object store, ItemBatcher, ResultWriter, tolerated failures and MaxConcurrency.

Each test's docstring quotes the AWS Developer Guide sentence it rests on."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mrbatch.asl import DefinitionError, Engine, ExecutionRecord, StatesError
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.objects import DirectoryObjects, MemoryObjects

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
BUCKET = "data"


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects({BUCKET: {}})


@pytest.fixture
def engine(tmp_path: Path, objects: MemoryObjects) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True, objects=objects) as eng:
        yield eng


def dmap(processor_states: dict[str, JsonValue], **fields: JsonValue) -> dict[str, JsonValue]:
    """A Distributed Map state (STANDARD children) over `processor_states`."""
    start = next(iter(processor_states))
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": start,
            "States": processor_states,
        },
        "End": True,
        **fields,
    }


PASS = {"P": {"Type": "Pass", "End": True}}


def run(engine: Engine, state: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    arn = engine.create_state_machine("sm", {"StartAt": "M", "States": {"M": state}})
    return engine.wait_for(engine.start_execution(arn, data, name="e1"), timeout=60)


def children(engine: Engine) -> list[ExecutionRecord]:
    return sorted(
        (r for r in engine.list_executions() if ":sm/" in r.arn), key=lambda r: r.start_date
    )


def test_items_run_as_child_executions_with_their_own_histories(engine: Engine) -> None:
    """AWS: "Each child workflow execution has its own, separate execution history from
    that of the parent workflow." The parent records the Map Run, not the iterations."""
    done = run(engine, dmap(PASS, ItemsPath="$.items"), {"items": [1, 2, 3]})
    assert done.status.value == "SUCCEEDED", done.cause
    assert done.output == [1, 2, 3]
    parent = [e.type for e in engine.get_execution_history(done.arn)]
    assert "MapRunStarted" in parent and "MapRunSucceeded" in parent
    assert not any(t.startswith("MapIteration") or t.startswith("Pass") for t in parent)
    kids = children(engine)
    assert len(kids) == 3 and {k.status.value for k in kids} == {"SUCCEEDED"}
    assert sorted(k.input for k in kids) == [1, 2, 3]
    history = [e.type for e in engine.get_execution_history(kids[0].arn)]
    assert history == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]


def test_map_run_record_counts_items_and_names_the_label(engine: Engine) -> None:
    """AWS: "Step Functions creates a Map Run resource. A Map Run refers to a set of child
    workflow executions that a Distributed Map state starts" (DescribeMapRun)."""
    done = run(engine, dmap(PASS, Label="chunks", MaxConcurrency=2), [10, 20])
    runs = engine.list_map_runs(done.arn)
    assert len(runs) == 1
    record = runs[0]
    assert record.arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:sm/chunks:")
    assert record.status == "SUCCEEDED" and record.max_concurrency == 2
    assert record.item_counts["total"] == 2 and record.item_counts["succeeded"] == 2
    assert engine.describe_map_run(record.arn).to_json()["status"] == "SUCCEEDED"
    assert all(":execution:sm/chunks:" in k.arn for k in children(engine))


def test_item_batcher_passes_items_and_batch_input(engine: Engine) -> None:
    """AWS: "If you use batching, Step Functions adds the items to an Items array. It then
    passes the array as input to each child workflow execution." BatchInput is "Fixed JSON
    input to include in each batch passed to each child workflow execution"."""
    state = dmap(
        PASS,
        ItemsPath="$.items",
        ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"file.$": "$.file"}},
    )
    done = run(engine, state, {"items": [1, 2, 3, 4, 5], "file": "f.csv"})
    assert done.output == [
        {"Items": [1, 2], "BatchInput": {"file": "f.csv"}},
        {"Items": [3, 4], "BatchInput": {"file": "f.csv"}},
        {"Items": [5], "BatchInput": {"file": "f.csv"}},
    ]
    assert len(children(engine)) == 3


def test_item_batcher_splits_by_input_bytes(engine: Engine) -> None:
    """AWS: MaxInputBytesPerBatch "Specifies the maximum number of bytes that each child
    workflow execution processes"."""
    items = ["x" * 40 for _ in range(6)]  # 42 bytes each as JSON
    state = dmap(PASS, ItemBatcher={"MaxInputBytesPerBatch": 100})
    done = run(engine, state, items)
    batches = [b["Items"] for b in done.output]
    assert [len(b) for b in batches] == [2, 2, 2]
    assert all(len(json.dumps({"Items": b}, separators=(",", ":"))) <= 100 for b in batches)


def reader(kind: str | None, key: str, **config: JsonValue) -> dict[str, JsonValue]:
    if kind is None:
        return {"Resource": "arn:aws:states:::s3:listObjectsV2",
                "Parameters": {"Bucket": BUCKET, "Prefix": key}}  # fmt: skip
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": kind, **config},
        "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"},
    }


@pytest.mark.parametrize(
    ("kind", "body", "config", "expected"),
    [
        ("JSON", b'[{"a": 1}, {"a": 2}]', {}, [{"a": 1}, {"a": 2}]),
        ("JSONL", b'{"a": 1}\n\n{"a": 2}\n', {}, [{"a": 1}, {"a": 2}]),
        ("CSV", b"id,name\n1,ann\n2,bob\n", {"CSVHeaderLocation": "FIRST_ROW"},
         [{"id": "1", "name": "ann"}, {"id": "2", "name": "bob"}]),
        ("CSV", b"1,ann\n2,bob\n", {"CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id", "n"]},
         [{"id": "1", "n": "ann"}, {"id": "2", "n": "bob"}]),
        ("JSON", b"[1, 2, 3, 4]", {"MaxItems": 2}, [1, 2]),
    ],
)  # fmt: skip
def test_item_reader_reads_each_input_type(
    engine: Engine,
    objects: MemoryObjects,
    kind: str,
    body: bytes,
    config: dict[str, JsonValue],
    expected: list[JsonValue],
) -> None:
    """AWS (ItemReader): InputType "Specifies the type of Amazon S3 data source, such as CSV
    file, object, JSON file, or an Amazon S3 inventory list"; with CSVHeaderLocation
    "FIRST_ROW – Use this option if the first line of the file is the header" and "GIVEN –
    Use this option to specify the header within the state machine definition"."""
    objects.put_object(BUCKET, "in/items", body)
    done = run(engine, dmap(PASS, ItemReader=reader(kind, "", **config)), {"key": "in/items"})
    assert done.status.value == "SUCCEEDED", done.cause
    assert done.output == expected


def test_item_reader_reads_an_inventory_manifest(engine: Engine, objects: MemoryObjects) -> None:
    """AWS (ItemReader): an "Amazon S3 inventory list" as the dataset: the manifest's CSV
    files (gzip) are read, one item per row named by the manifest's fileSchema."""
    objects.put_object(BUCKET, "inv/data-1.csv.gz", gzip.compress(b'"src","a.csv","10"\n'))
    objects.put_object(BUCKET, "inv/data-2.csv.gz", gzip.compress(b'"src","b.csv","20"\n'))
    manifest = {
        "sourceBucket": "src",
        "destinationBucket": f"arn:aws:s3:::{BUCKET}",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": [{"key": "inv/data-1.csv.gz"}, {"key": "inv/data-2.csv.gz"}],
    }
    objects.put_object(BUCKET, "inv/manifest.json", json.dumps(manifest).encode())
    done = run(engine, dmap(PASS, ItemReader=reader("MANIFEST", "")), {"key": "inv/manifest.json"})
    assert done.output == [
        {"Bucket": "src", "Key": "a.csv", "Size": "10"},
        {"Bucket": "src", "Key": "b.csv", "Size": "20"},
    ]


def test_item_reader_lists_objects_under_a_prefix(engine: Engine, objects: MemoryObjects) -> None:
    """AWS (ItemReader): with s3:listObjectsV2 each item is one object of the prefix, with
    its Etag, Key, LastModified, Size and StorageClass."""
    objects.put_object(BUCKET, "p/b", b"22")
    objects.put_object(BUCKET, "p/a", b"1")
    objects.put_object(BUCKET, "q/c", b"3")
    done = run(engine, dmap(PASS, ItemReader=reader(None, "p/")), {})
    assert [(i["Key"], i["Size"], i["StorageClass"]) for i in done.output] == [
        ("p/a", 1, "STANDARD"),
        ("p/b", 2, "STANDARD"),
    ]
    assert set(done.output[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}


def test_item_reader_failure_is_catchable_item_reader_failed(engine: Engine) -> None:
    """AWS error names: "States.ItemReaderFailed: Map state failed because it couldn't read
    from the item source specified in the ItemReader field"."""
    state = dmap(PASS, ItemReader=reader("JSON", ""))
    state.pop("End")
    state.update(Catch=[{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught"}],
                 Next="Caught")  # fmt: skip
    arn = engine.create_state_machine(
        "sm", {"StartAt": "M", "States": {"M": state, "Caught": {"Type": "Pass", "End": True}}}
    )
    done = engine.wait_for(engine.start_execution(arn, {"key": "missing"}), timeout=30)
    assert done.status.value == "SUCCEEDED"
    assert done.output["Error"] == "States.ItemReaderFailed"
    assert "missing" in done.output["Cause"]


def test_result_writer_exports_results_and_returns_the_manifest(
    engine: Engine, objects: MemoryObjects
) -> None:
    """AWS (ResultWriter): the Distributed Map exports its children's results to Amazon S3;
    the state's output then names the Map Run and the manifest (ResultWriterDetails)."""
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": BUCKET, "Prefix": "results"}}  # fmt: skip
    done = run(engine, dmap(PASS, ResultWriter=writer), ["a", "b"])
    details = done.output["ResultWriterDetails"]
    run_id = done.output["MapRunArn"].rsplit(":", 1)[1]
    assert details == {"Bucket": BUCKET, "Key": f"results/{run_id}/manifest.json"}
    manifest = json.loads(objects.get_object(BUCKET, details["Key"]))
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    assert (
        manifest["ResultFiles"]["FAILED"] == []
        and manifest["MapRunArn"] == done.output["MapRunArn"]
    )
    entries = json.loads(objects.get_object(BUCKET, succeeded["Key"]))
    assert [json.loads(e["Output"]) for e in entries] == ["a", "b"]
    assert {e["Status"] for e in entries} == {"SUCCEEDED"}


def fail_on(bad: set[int]) -> Callable[[JsonValue], JsonValue]:
    def body(event: JsonValue) -> JsonValue:
        if event in bad:
            raise StatesError("Item.Bad", f"item {event}")
        return event

    return body


def test_one_failed_child_fails_the_run_by_default(engine: Engine) -> None:
    """AWS: "The default percentage value is zero, which means that the workflow fails if
    any one of its child workflow executions fails or times out" and "Step Functions returns
    a States.ExceedToleratedFailureThreshold error when the Map Run fails"."""
    engine.resources.register_function("f", fail_on({3}), in_process=True)
    task = {"T": {"Type": "Task", "Resource": LAMBDA + "f", "End": True}}
    done = run(engine, dmap(task), [1, 2, 3, 4])
    assert done.status.value == "FAILED"
    assert done.error == "States.ExceedToleratedFailureThreshold"
    assert done.cause is not None and "Item.Bad" in done.cause
    [record] = engine.list_map_runs(done.arn)
    assert record.status == "FAILED" and record.item_counts["failed"] == 1
    assert "MapRunFailed" in [e.type for e in engine.get_execution_history(done.arn)]


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [
        ({"ToleratedFailureCount": 2}, "SUCCEEDED"),
        ({"ToleratedFailureCount": 1}, "FAILED"),
        ({"ToleratedFailurePercentage": 50}, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 49}, "FAILED"),
    ],
)
def test_tolerated_failures_count_items(
    engine: Engine, tolerance: dict[str, JsonValue], status: str
) -> None:
    """AWS: "Step Functions calculates the percentage of failed items as the result of the
    total number of failed or timed out items divided by the total number of items"; with
    batches, a failed child fails all its items (2 of 4 here)."""
    engine.resources.register_function("f", fail_on({3}), in_process=True)
    task = {"T": {"Type": "Task", "Resource": LAMBDA + "f", "InputPath": "$.Items[0]",
                  "End": True}}  # fmt: skip
    state = dmap(task, ItemBatcher={"MaxItemsPerBatch": 2}, **tolerance)
    done = run(engine, state, [3, 3, 1, 1])
    assert done.status.value == status, done.cause
    if status == "SUCCEEDED":
        assert done.output[0]["Status"] == "FAILED" and done.output[1] == 1


def test_max_concurrency_bounds_running_children(engine: Engine) -> None:
    """AWS: MaxConcurrency is "The maximum number of child workflow executions that can be
    specified to run in parallel for the Map Run at the same time" (UpdateMapRun)."""
    lock, running, peak = threading.Lock(), [0], [0]

    def body(event: JsonValue) -> JsonValue:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)  # keeps a child busy long enough for others to overlap it
        with lock:
            running[0] -= 1
        return event

    engine.resources.register_function("slow", body, in_process=True)
    task = {"T": {"Type": "Task", "Resource": LAMBDA + "slow", "End": True}}
    done = run(engine, dmap(task, MaxConcurrency=2), list(range(8)))
    assert done.status.value == "SUCCEEDED" and done.output == list(range(8))
    assert peak[0] == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ItemReader": {"Resource": "arn:aws:states:::s3:getObject"}}, "DISTRIBUTED"),
        ({"ItemBatcher": {"MaxItemsPerBatch": 2}}, "DISTRIBUTED"),
        ({"ResultWriter": {"WriterConfig": {}}}, "DISTRIBUTED"),
    ],
)
def test_distributed_fields_on_an_inline_map_are_rejected(
    engine: Engine, fields: dict[str, JsonValue], message: str
) -> None:
    """AWS: ItemReader, ItemBatcher and ResultWriter are fields of the Distributed Map
    state ("Distributed Map state fields"); an inline Map does not take them."""
    state = {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": PASS}, "End": True}
    with pytest.raises(DefinitionError, match=message):
        engine.create_state_machine("bad", {"StartAt": "M", "States": {"M": {**state, **fields}}})


def test_distributed_map_needs_an_execution_type(engine: Engine) -> None:
    """AWS: a Distributed Map's ProcessorConfig sets ExecutionType, STANDARD or EXPRESS,
    the type of its child workflow executions."""
    state = dmap(PASS)
    state["ItemProcessor"]["ProcessorConfig"] = {"Mode": "DISTRIBUTED"}
    with pytest.raises(DefinitionError, match="ExecutionType"):
        engine.create_state_machine("bad", {"StartAt": "M", "States": {"M": state}})


def test_aborting_the_parent_aborts_its_running_children(tmp_path: Path) -> None:
    """AWS (MapRunExecutionCounts): aborted children are those "stopped by the user or by
    Step Functions because the Map Run failed"; stopping the parent stops its Map Run."""
    gate = threading.Event()
    with Engine(tmp_path / "wf.db") as engine:
        engine.resources.register_function("wait", lambda e: gate.wait(30) and e, in_process=True)
        task = {"T": {"Type": "Task", "Resource": LAMBDA + "wait", "End": True}}
        arn = engine.create_state_machine("sm", {"StartAt": "M", "States": {"M": dmap(task)}})
        execution = engine.start_execution(arn, [1, 2])
        deadline = time.monotonic() + 10
        while len([k for k in children(engine) if k.status.value == "RUNNING"]) < 2:
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.01)
        engine.stop_execution(execution, error="Stop", cause="test")
        gate.set()
        assert {k.status.value for k in children(engine)} == {"ABORTED"}
        [record] = engine.list_map_runs(execution)
        assert record.status == "ABORTED"


def test_result_writer_that_cannot_write_fails_with_result_writer_failed(tmp_path: Path) -> None:
    """AWS error names: "States.ResultWriterFailed: Map state failed because it couldn't
    write results to the destination specified in the ResultWriter field". A Catch on it
    catches it. Here the destination is a key outside the folder served as the bucket, which
    that store refuses (`DirectoryObjects`)."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": BUCKET, "Prefix": "../outside"}}  # fmt: skip
    state = dmap(PASS, ResultWriter=writer)
    state.pop("End")
    state.update(Catch=[{"ErrorEquals": ["States.ResultWriterFailed"], "Next": "Caught"}],
                 Next="Caught")  # fmt: skip
    definition = {"StartAt": "M", "States": {"M": state, "Caught": {"Type": "Pass", "End": True}}}
    with Engine(tmp_path / "wf.db", no_wait=True, objects=DirectoryObjects(bucket)) as engine:
        arn = engine.create_state_machine("sm", definition)
        done = engine.wait_for(engine.start_execution(arn, ["a", "b"]), timeout=60)
    assert done.status.value == "SUCCEEDED", done.cause
    assert done.output["Error"] == "States.ResultWriterFailed"
    assert "outside" in done.output["Cause"]
    assert not (tmp_path / "outside").exists()
