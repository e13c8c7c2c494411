"""JSONata in a Distributed Map (ItemReader, ItemBatcher, ResultWriter, ItemSelector) and in the
numeric fields AWS lets a JSONata state compute (TimeoutSeconds, HeartbeatSeconds, Wait
Seconds/Timestamp, MaxConcurrency, ToleratedFailureCount/Percentage, MaxItems,
MaxItemsPerBatch, MaxInputBytesPerBatch).

AWS recorded, in LocalStack's AWS-validated snapshot tests (test_base_evaluate_expressions:
TIMEOUT_SECONDS, HEARTBEAT_SECONDS, MAX_CONCURRENCY, TOLERATED_FAILURE_PERCENTAGE,
TOLERATED_FAILURE_COUNT, each as `{% %}` and read from `$states.input`), that these fields take
JSONata expressions. A value of the wrong type or range fails the state with
States.QueryEvaluationError (AWS, Error handling: "States.QueryEvaluationError: Query
evaluation failed in a JSONata state, for example a type error"), which Catch handles.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import DefinitionError, Engine, ExecutionRecord
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.loader import load_definition
from mrbatch.asl.objects import MemoryObjects

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
BUCKET = "data"
PASS = {"P": {"Type": "Pass", "End": True}}


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects({BUCKET: {}})


@pytest.fixture
def engine(tmp_path: Path, objects: MemoryObjects) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True, objects=objects) as eng:
        eng.resources.register_function("echo", lambda e: e, in_process=True)
        yield eng


def run(engine: Engine, states: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": states}
    arn = engine.create_state_machine("sm", definition)
    return engine.wait_for(engine.start_execution(arn, data, name="e1"), timeout=60)


def dmap(**fields: JsonValue) -> dict[str, JsonValue]:
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "P",
            "States": PASS,
        },
        "End": True,
        **fields,
    }


def children(engine: Engine) -> list[ExecutionRecord]:
    return [r for r in engine.list_executions() if ":sm/" in r.arn]


# --- the Distributed Map ------------------------------------------------------------------


def test_item_reader_arguments_and_max_items_are_expressions(
    engine: Engine, objects: MemoryObjects
) -> None:
    """AWS (ItemReader, JSONata): the reader's `Arguments` name the object ("Key": "{%
    $states.input.key %}") and ReaderConfig.MaxItems may be an expression; the children of
    a JSONata machine run its ItemProcessor as JSONata too (their Output is an expression)."""
    objects.put_object(BUCKET, "in/items.json", b"[1, 2, 3, 4]")
    processor = {"P": {"Type": "Pass", "Output": "{% $states.input * 10 %}", "End": True}}
    state = dmap(
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON", "MaxItems": "{% $states.input.most %}"},
            "Arguments": {"Bucket": BUCKET, "Key": "{% $states.input.key %}"},
        }
    )
    state["ItemProcessor"]["States"] = processor  # type: ignore[index]
    done = run(engine, {"A": state}, {"key": "in/items.json", "most": 3})
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert done.output == [10, 20, 30]


def test_item_selector_and_batcher_are_expressions(engine: Engine) -> None:
    """AWS (ItemBatcher, JSONata): MaxItemsPerBatch and BatchInput take expressions; the
    ItemSelector reads `$states.context.Map.Item.Value` as in an inline Map."""
    state = dmap(
        Items="{% $states.input.xs %}",
        ItemSelector={"v": "{% $states.context.Map.Item.Value + 1 %}"},
        ItemBatcher={
            "MaxItemsPerBatch": "{% $states.input.per %}",
            "BatchInput": {"tag": "{% $states.input.tag %}"},
        },
    )
    done = run(engine, {"A": state}, {"xs": [1, 2, 3], "per": 2, "tag": "t"})
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert sorted(json.dumps(k.input, sort_keys=True) for k in children(engine)) == [
        json.dumps({"BatchInput": {"tag": "t"}, "Items": [{"v": 2}, {"v": 3}]}, sort_keys=True),
        json.dumps({"BatchInput": {"tag": "t"}, "Items": [{"v": 4}]}, sort_keys=True),
    ]


def test_result_writer_arguments_are_expressions(engine: Engine, objects: MemoryObjects) -> None:
    """AWS (ResultWriter, JSONata): `Arguments` give the Bucket and Prefix of the export."""
    state = dmap(
        Items=["a"],
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Arguments": {"Bucket": BUCKET, "Prefix": "{% $states.input.out %}"},
        },
    )
    done = run(engine, {"A": state}, {"out": "exports"})
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    key = done.output["ResultWriterDetails"]["Key"]
    assert key.startswith("exports/") and key in objects.buckets[BUCKET]


def test_tolerated_failure_count_expression_lets_a_failure_through(engine: Engine) -> None:
    """AWS-validated (LocalStack TOLERATED_FAILURE_COUNT, read from the input): the count is
    an expression; one failed child within it leaves the Map Run successful."""
    state = dmap(Items=[1, 2], ToleratedFailureCount="{% $states.input.n %}")
    state["ItemProcessor"]["States"] = {  # type: ignore[index]
        "P": {
            "Type": "Choice",
            "Choices": [{"Condition": "{% $states.input = 2 %}", "Next": "F"}],
            "Default": "OK",
        },
        "F": {"Type": "Fail", "Error": "Bad"},
        "OK": {"Type": "Succeed"},
    }
    done = run(engine, {"A": state}, {"n": 1})
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    arn = engine.create_state_machine(
        "sm", {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}}
    )
    failed = engine.wait_for(engine.start_execution(arn, {"n": 0}, name="e2"), timeout=60)
    assert failed.error == "States.ExceedToleratedFailureThreshold"


# --- numeric fields: values and the run-time errors -----------------------------------------


def test_max_concurrency_expression_bounds_the_inline_map(engine: Engine) -> None:
    """AWS-validated (LocalStack MAX_CONCURRENCY from `$states.input`): MaxConcurrency is an
    expression; with 1 the iterations run one at a time."""
    running, most = [0], [0]
    lock = threading.Lock()

    def slow(event: JsonValue) -> JsonValue:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1
        return event

    engine.resources.register_function("slow", slow, in_process=True)
    state = {
        "Type": "Map",
        "Items": [1, 2, 3],
        "MaxConcurrency": "{% $states.input.c %}",
        "ItemProcessor": {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": LAMBDA + "slow", "End": True}},
        },
        "End": True,
    }
    done = run(engine, {"A": state}, {"c": 1})
    assert done.status.value == "SUCCEEDED", (done.error, done.cause)
    assert most[0] == 1


def test_timeout_seconds_expression_times_the_task_out(engine: Engine) -> None:
    """AWS-validated (LocalStack TIMEOUT_SECONDS): TimeoutSeconds is an expression; a task
    that runs longer fails with States.Timeout."""
    engine.resources.register_function(
        "sleepy", lambda e: threading.Event().wait(5) and e, in_process=True
    )
    state = {
        "Type": "Task",
        "Resource": LAMBDA + "sleepy",
        "TimeoutSeconds": "{% $states.input.t %}",
        "End": True,
    }
    done = run(engine, {"A": state}, {"t": 1})
    assert (done.status.value, done.error) == ("FAILED", "States.Timeout")


@pytest.mark.parametrize(
    ("field", "value", "state"),
    [
        ("TimeoutSeconds", 0, {"Type": "Task", "Resource": LAMBDA + "echo"}),
        ("TimeoutSeconds", "10", {"Type": "Task", "Resource": LAMBDA + "echo"}),
        ("HeartbeatSeconds", 1.5, {"Type": "Task", "Resource": LAMBDA + "echo"}),
        ("Seconds", -1, {"Type": "Wait"}),
        ("Seconds", "soon", {"Type": "Wait"}),
        ("Timestamp", "tomorrow", {"Type": "Wait"}),
        ("MaxConcurrency", -1, {"Type": "Map", "Items": [1]}),
        ("ToleratedFailureCount", "x", {"Type": "Map", "Items": [1]}),
        ("ToleratedFailurePercentage", 101, {"Type": "Map", "Items": [1]}),
    ],
)
def test_numeric_expression_of_wrong_type_or_range_is_a_query_evaluation_error(
    engine: Engine, field: str, value: JsonValue, state: dict[str, JsonValue]
) -> None:
    """AWS (Error handling): "States.QueryEvaluationError: Query evaluation failed in a
    JSONata state, for example a type error" (a number field given a string) or a value out
    of the field's range (AWS documents TimeoutSeconds and HeartbeatSeconds as positive
    integers, Wait Seconds as a non-negative integer, Timestamp as RFC3339, MaxConcurrency and
    ToleratedFailureCount as non-negative integers, ToleratedFailurePercentage as 0-100).
    It is catchable, unlike JSONPath's States.Runtime."""
    body: dict[str, JsonValue] = dict(state, End=True, **{field: "{% $states.input.v %}"})
    if body["Type"] == "Map":
        body["ItemProcessor"] = {"StartAt": "P", "States": PASS}
    states: dict[str, JsonValue] = {"A": body}
    if body["Type"] != "Wait":  # Wait has no Catch: the error fails the execution
        catch = {"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}",
                 "Next": "Caught"}  # fmt: skip
        body["Catch"] = [catch]
        states["Caught"] = {"Type": "Succeed"}
    done = run(engine, states, {"v": value})
    if body["Type"] == "Wait":
        assert (done.status.value, done.error) == ("FAILED", "States.QueryEvaluationError")
        cause = done.cause or ""
    else:
        assert done.status.value == "SUCCEEDED", (done.error, done.cause)
        assert done.output["Error"] == "States.QueryEvaluationError"
        cause = done.output["Cause"]
    assert field in cause and json.dumps(value) in cause


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MaxItemsPerBatch", 0),
        ("MaxInputBytesPerBatch", 300 * 1024),
    ],
)
def test_batcher_expression_out_of_range_is_a_query_evaluation_error(
    engine: Engine, field: str, value: JsonValue
) -> None:
    """AWS (ItemBatcher): MaxItemsPerBatch is a positive integer and "The maximum size of a
    batch is 256 KiB"; an expression outside that fails with States.QueryEvaluationError."""
    state = dmap(Items=[1], ItemBatcher={field: "{% $states.input.v %}"})
    done = run(engine, {"A": state}, {"v": value})
    assert (done.status.value, done.error) == ("FAILED", "States.QueryEvaluationError")
    assert field in (done.cause or "")


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("ItemReader", "Parameters"),
        ("ItemReader.ReaderConfig", "MaxItemsPath"),
        ("ItemBatcher", "MaxItemsPerBatchPath"),
        ("ResultWriter", "Parameters"),
    ],
)
def test_jsonpath_fields_inside_a_jsonata_distributed_map_are_refused(
    where: str, field: str
) -> None:
    """AWS (Transforming data with JSONata): a JSONata state uses Arguments, not Parameters,
    and no `...Path` field; this holds inside ItemReader, ItemBatcher and ResultWriter."""
    reader: dict[str, JsonValue] = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Arguments": {"Bucket": BUCKET, "Key": "k"},
    }
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Arguments": {"Bucket": BUCKET}}
    state = dmap(ItemReader=reader, ItemBatcher={"MaxItemsPerBatch": 2}, ResultWriter=writer)
    target = state
    for part in where.split("."):
        target = target[part]  # type: ignore[assignment]
    target[field] = "$.x" if field.endswith("Path") else {"Bucket": BUCKET}
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}}
    with pytest.raises(DefinitionError, match=field):
        load_definition(definition)


# --- where $states.result and $states.errorOutput may be read -------------------------------

TASK = {"Type": "Task", "Resource": LAMBDA + "echo", "End": True}


def _machine(state: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """A JSONata machine of state A (and Done, when A's Catch or Choices go there)."""
    states: dict[str, JsonValue] = {"A": state}
    if "Catch" in state or "Choices" in state:
        states["Done"] = {"Type": "Succeed"}
    return {"QueryLanguage": "JSONata", "StartAt": "A", "States": states}


def _catching(**catch: JsonValue) -> dict[str, JsonValue]:
    return dict(TASK, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Done", **catch}])


@pytest.mark.parametrize(
    ("state", "where"),
    [
        (dict(TASK, Arguments={"x": "{% $states.result %}"}), "Arguments/x"),
        (dict(TASK, TimeoutSeconds="{% $states.result.t %}"), "TimeoutSeconds"),
        ({"Type": "Pass", "Output": "{% $states.result %}", "End": True}, "Output"),
        ({"Type": "Pass", "Assign": {"v": "{% $states.result %}"}, "End": True}, "Assign/v"),
        (_catching(Output="{% $states.result %}"), "Catch/0/Output"),
        (dict(TASK, Output="{% $states.errorOutput %}"), "Output"),
        (dict(TASK, Assign={"e": "{% $states.errorOutput.Cause %}"}), "Assign/e"),
        (dict(TASK, Arguments="{% $states.errorOutput %}"), "Arguments"),
        (
            {
                "Type": "Map",
                "Items": "{% $states.result %}",
                "ItemProcessor": {"StartAt": "P", "States": PASS},
                "End": True,
            },
            "Items",
        ),
        (
            {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.errorOutput %}", "Next": "Done"}],
                "Default": "Done",
            },
            "Choices/0/Condition",
        ),
    ],
)
def test_states_result_or_error_output_where_aws_does_not_give_them_is_refused_at_load(
    state: dict[str, JsonValue], where: str
) -> None:
    """AWS (Passing data between states with variables, "Reserved variable: $states"):
    `result` is the "API or sub-workflow's result (if successful)" and `errorOutput` the
    "Error Output (only available in a Catch)"; "Attempting to access $states.result or
    $states.errorOutput in fields and states where they are not accessible will be caught at
    creation, update, or validation of the state machine"."""
    definition = _machine(state)
    with pytest.raises(DefinitionError, match="SCHEMA_VALIDATION_FAILED") as refused:
        load_definition(definition)
    assert f"at /States/A/{where}" in str(refused.value)


@pytest.mark.parametrize(
    "state",
    [
        dict(TASK, Output="{% $states.result %}", Assign={"r": "{% $states.result.x %}"}),
        _catching(Output="{% $states.errorOutput %}", Assign={"e": "{% $states.errorOutput %}"}),
        {
            "Type": "Parallel",
            "Branches": [{"StartAt": "P", "States": PASS}],
            "Output": "{% $states.result[0] %}",
            "End": True,
        },
    ],
)
def test_states_result_and_error_output_are_accepted_where_aws_gives_them(
    state: dict[str, JsonValue],
) -> None:
    """The same AWS section: a Task, Parallel or Map reads `$states.result` in its Output and
    Assign, a Catch reads `$states.errorOutput` in its Output and Assign."""
    definition = _machine(state)
    load_definition(definition)
