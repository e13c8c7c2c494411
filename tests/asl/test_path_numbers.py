"""Numbers read through a JSONPath `…Path` field (MaxConcurrencyPath, ToleratedFailure*Path,
MaxItemsPath, ItemBatcher's …Path, SecondsPath, TimestampPath, TimeoutSecondsPath,
HeartbeatSecondsPath), and HeartbeatSeconds ≥ TimeoutSeconds when either is computed.

The expected errors and causes are AWS's own, as recorded in LocalStack's AWS-validated
snapshots (tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json
and v2/base/test_wait.snapshot.json); where AWS's answer is not recorded the docstring says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.asl import Engine, ExecutionRecord
from mrbatch.asl.definition import JsonValue
from mrbatch.asl.objects import MemoryObjects

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
CAUGHT = {"Type": "Pass", "Result": "caught", "End": True}
BUCKET = "data"


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects({BUCKET: {"items.json": b"[1, 2, 3, 4]"}})


@pytest.fixture
def engine(tmp_path: Path, objects: MemoryObjects) -> Iterator[Engine]:
    with Engine(tmp_path / "wf.db", no_wait=True, objects=objects) as eng:
        eng.resources.register_function("echo", lambda e: e, in_process=True)
        yield eng


def run(engine: Engine, state: dict[str, JsonValue], data: JsonValue) -> ExecutionRecord:
    """Run `state` as the machine's first state, its failures caught by States.ALL (but a
    Wait's: AWS allows no Catch on a Wait state)."""
    if state["Type"] == "Wait":
        states = {"A": state}
    else:
        states = {"A": dict(state, Catch=CATCH_ALL), "Caught": CAUGHT}
    arn = engine.create_state_machine("sm", {"StartAt": "A", "States": states})
    return engine.wait_for(engine.start_execution(arn, data), timeout=30)


def map_state(distributed: bool, **fields: JsonValue) -> dict[str, JsonValue]:
    config = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"} if distributed else {}
    processor = {"ProcessorConfig": config, "StartAt": "P", "States": {"P": {"Type": "Pass",
                 "End": True}}}  # fmt: skip
    return {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True,
            **fields}  # fmt: skip


def reader_map(**config: JsonValue) -> dict[str, JsonValue]:
    reader = {"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "JSON", **config},
              "Parameters": {"Bucket": BUCKET, "Key": "items.json"}}  # fmt: skip
    state = map_state(True, ItemReader=reader)
    del state["ItemsPath"]
    return state


def assert_runtime(done: ExecutionRecord, cause: str) -> None:
    """AWS: "A States.Runtime error isn't retriable, and will always cause the execution to
    fail. A retry or catch on States.ALL won't catch States.Runtime errors." """
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime"), done.output
    assert done.cause is not None and done.cause.endswith(cause), done.cause


@pytest.mark.parametrize("distributed", [False, True])
@pytest.mark.parametrize(
    ("value", "cause"),
    [
        ({}, 'The MaxConcurrencyPath field refers to value "{}" which is not a valid integer: '
             "$.mc"),
        ("NoNumber", 'The MaxConcurrencyPath field refers to value "NoNumber" which is not a '
                     "valid integer: $.mc"),
        (1.5, 'The MaxConcurrencyPath field refers to value "1.5" which is not a valid '
              "integer: $.mc"),
        (-1, "Expected non-negative integer for MaxConcurrency, got '-1' instead."),
    ],
)  # fmt: skip
def test_max_concurrency_path_that_is_no_integer_fails_with_states_runtime(
    engine: Engine, distributed: bool, value: JsonValue, cause: str
) -> None:
    """Recorded AWS (test_max_concurrency_path[{}] and [NoNumber]): States.Runtime, "The
    MaxConcurrencyPath field refers to value "NoNumber" which is not a valid integer:
    $.MaxConcurrencyValue". Not recorded: 1.5 (AWS refuses it for MaxItemsPath in the same
    words, so we do here); -1, where AWS's execution stalls after ExecutionStarted
    (test_max_concurrency_path_negative): failing is the useful answer, in LocalStack's words."""
    state = map_state(distributed, MaxConcurrencyPath="$.mc")
    assert_runtime(run(engine, state, {"items": [1], "mc": value}), cause)


@pytest.mark.parametrize("distributed", [False, True])
@pytest.mark.parametrize("value", [0, 1])
def test_max_concurrency_path_that_is_an_integer_runs_the_map(
    engine: Engine, distributed: bool, value: int
) -> None:
    """Recorded AWS (test_max_concurrency_path[0] and [1]): the execution succeeds."""
    state = map_state(distributed, MaxConcurrencyPath="$.mc")
    done = run(engine, state, {"items": [1, 2], "mc": value})
    assert (done.status.value, done.output) == ("SUCCEEDED", [1, 2])


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [
        ("ToleratedFailureCountPath", {}, 'The ToleratedFailureCountPath field refers to '
         'value "{}" which is not a valid integer: $.t'),
        ("ToleratedFailureCountPath", "NoNumber", 'The ToleratedFailureCountPath field refers '
         'to value "NoNumber" which is not a valid integer: $.t'),
        ("ToleratedFailureCountPath", 1.5, 'The ToleratedFailureCountPath field refers '
         'to value "1.5" which is not a valid integer: $.t'),
        ("ToleratedFailureCountPath", -1, "ToleratedFailureCount cannot be negative."),
        ("ToleratedFailurePercentagePath", {}, 'The ToleratedFailurePercentagePath field '
         'refers to value "{}" which is not a valid float: $.t'),
        ("ToleratedFailurePercentagePath", "NoNumber", 'The ToleratedFailurePercentagePath '
         'field refers to value "NoNumber" which is not a valid float: $.t'),
        ("ToleratedFailurePercentagePath", -1.1,
         "ToleratedFailurePercentage must be between 0 and 100."),
        ("ToleratedFailurePercentagePath", -1,
         "ToleratedFailurePercentage must be between 0 and 100."),
        ("ToleratedFailurePercentagePath", 100.1,
         "ToleratedFailurePercentage must be between 0 and 100."),
    ],
)  # fmt: skip
def test_tolerated_failure_path_out_of_rule_fails_with_states_runtime(
    engine: Engine, field: str, value: JsonValue, cause: str
) -> None:
    """Recorded AWS (test_map_state_tolerated_failure_count_path and
    ..._percentage_path with {}, "NoNumber", -1, -1.1, 100.1): States.Runtime with these
    causes. Not recorded: a count of 1.5 (refused like MaxItemsPath's 1.5)."""
    state = map_state(True, **{field: "$.t"})
    assert_runtime(run(engine, state, {"items": [0], "t": value}), cause)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ToleratedFailureCountPath", 0), ("ToleratedFailureCountPath", 1),
     ("ToleratedFailurePercentagePath", 0), ("ToleratedFailurePercentagePath", 1.1),
     ("ToleratedFailurePercentagePath", 100)],
)  # fmt: skip
def test_tolerated_failure_path_within_rule_runs_the_map(
    engine: Engine, field: str, value: JsonValue
) -> None:
    """Recorded AWS (the same tests with 0, 1, 1.1, 100): the execution succeeds."""
    done = run(engine, map_state(True, **{field: "$.t"}), {"items": [0], "t": value})
    assert (done.status.value, done.output) == ("SUCCEEDED", [0])


def test_max_items_path_that_is_no_integer_fails_with_states_runtime(engine: Engine) -> None:
    """Recorded AWS (test_map_item_reader_csv_max_items_paths[1.5]): States.Runtime, "The
    MaxItemsPath field refers to value "1.5" which is not a valid integer: $.MaxItems"."""
    done = run(engine, reader_map(MaxItemsPath="$.MaxItems"), {"MaxItems": 1.5})
    assert_runtime(
        done, 'The MaxItemsPath field refers to value "1.5" which is not a valid integer: '
        "$.MaxItems"
    )  # fmt: skip


def test_negative_max_items_path_fails_the_item_reader(engine: Engine) -> None:
    """Recorded AWS (test_map_item_reader_csv_max_items_paths[-1]): States.ItemReaderFailed,
    "field MaxItems must be positive" (catchable: it is not States.Runtime)."""
    arn = engine.create_state_machine(
        "sm", {"StartAt": "A", "States": {"A": reader_map(MaxItemsPath="$.MaxItems")}}
    )
    done = engine.wait_for(engine.start_execution(arn, {"MaxItems": -1}), timeout=30)
    assert (done.status.value, done.error, done.cause) == (
        "FAILED", "States.ItemReaderFailed", "field MaxItems must be positive"
    )  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), [(0, [1, 2, 3, 4]), (2, [1, 2]),
                                                 (100_000_001, [1, 2, 3, 4])])  # fmt: skip
def test_max_items_path_zero_or_above_the_limit_reads_every_item(
    engine: Engine, value: int, expected: list[int]
) -> None:
    """Recorded AWS (test_map_item_reader_csv_max_items_paths[0], [2], [100000001]): 0 and
    a value above the documented 100,000,000 read every item; 2 reads two."""
    done = run(engine, reader_map(MaxItemsPath="$.MaxItems"), {"MaxItems": value})
    assert (done.status.value, done.output) == ("SUCCEEDED", expected)


@pytest.mark.parametrize("field", ["MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"])
@pytest.mark.parametrize("value", ["NoNumber", 1.5, {}])
def test_item_batcher_path_that_is_no_integer_fails_with_states_runtime(
    engine: Engine, field: str, value: JsonValue
) -> None:
    """Not recorded against AWS: a batcher …Path value that is no integer fails as AWS fails
    the other Map …Path fields (States.Runtime, "The <field> field refers to value "<value>"
    which is not a valid integer: <path>")."""
    state = map_state(True, ItemBatcher={field: "$.b"})
    done = run(engine, state, {"items": [1, 2], "b": value})
    assert_runtime(done, "which is not a valid integer: $.b")
    assert f"The {field} field refers to value" in (done.cause or "")


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [("MaxItemsPerBatchPath", 0, "MaxItemsPerBatch must be a positive integer, got '0'."),
     ("MaxInputBytesPerBatchPath", 0,
      "MaxInputBytesPerBatch must be an integer from 1 to 262144, got '0'."),
     ("MaxInputBytesPerBatchPath", 262145,
      "MaxInputBytesPerBatch must be an integer from 1 to 262144, got '262145'.")],
)  # fmt: skip
def test_item_batcher_path_out_of_range_fails_with_states_runtime(
    engine: Engine, field: str, value: int, cause: str
) -> None:
    """AWS (ItemBatcher): "The maximum size of a batch is 256 KiB"; a batch holds at least one
    item. The error for a value read out of range is not recorded; it is States.Runtime as
    for the other …Path fields."""
    state = map_state(True, ItemBatcher={field: "$.b"})
    assert_runtime(run(engine, state, {"items": [1, 2], "b": value}), cause)


@pytest.mark.parametrize(
    ("value", "cause"),
    [(1.5, "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5"),
     (-1.5, "The SecondsPath parameter cannot be parsed as a long value: $.s == -1.5"),
     (-1, "The SecondsPath parameter references a negative value: $.s == -1")],
)  # fmt: skip
def test_seconds_path_that_is_no_natural_number_fails_with_states_runtime(
    engine: Engine, value: JsonValue, cause: str
) -> None:
    """Recorded AWS (test_base_wait_seconds_path[1.5], [-1.5], [-1]): States.Runtime with
    these causes."""
    done = run(engine, {"Type": "Wait", "SecondsPath": "$.s", "End": True}, {"s": value})
    assert_runtime(done, cause)


def test_timestamp_path_that_is_no_timestamp_fails_with_states_runtime(engine: Engine) -> None:
    """Recorded AWS (test_wait_timestamppath): States.Runtime, "The TimestampPath parameter
    does not reference a valid ISO-8601 extended offset date-time format string:
    $.TimestampValue == 2016-12-05 21:29:29Z"."""
    state = {"Type": "Wait", "TimestampPath": "$.t", "End": True}
    done = run(engine, state, {"t": "2016-12-05 21:29:29Z"})
    assert_runtime(
        done, "The TimestampPath parameter does not reference a valid ISO-8601 extended "
        "offset date-time format string: $.t == 2016-12-05 21:29:29Z"
    )  # fmt: skip


@pytest.mark.parametrize("field", ["TimeoutSecondsPath", "HeartbeatSecondsPath"])
@pytest.mark.parametrize("value", ["NoNumber", 1.5, 0, {}])
def test_task_seconds_path_that_is_no_positive_integer_fails_with_states_runtime(
    engine: Engine, field: str, value: JsonValue
) -> None:
    """Recorded AWS (test_invalid_jsonpath[...TIMEOUTSECONDSPATH / HEARTBEATSECONDSPATH]): a
    path that selects nothing is States.Runtime. A value that is no positive integer is not
    recorded; it fails the same way, as the Map and Wait …Path fields do."""
    state = {"Type": "Task", "Resource": LAMBDA + "echo", field: "$.v", "End": True}
    done = run(engine, state, {"v": value})
    assert (done.status.value, done.error) == ("FAILED", "States.Runtime")


def test_path_fields_read_variables(engine: Engine) -> None:
    """AWS (Passing data between states with variables): variables may be referenced in
    "…Path" fields; LocalStack's AWS-validated map_state_reference_in_max_concurrency_path
    and base_reference_in_lambda_task_fields read `$name` in MaxConcurrencyPath,
    TimeoutSecondsPath and HeartbeatSecondsPath."""
    inline_map = map_state(False, MaxConcurrencyPath="$mc")
    del inline_map["End"]
    states: dict[str, JsonValue] = {
        "Set": {"Type": "Pass", "Assign": {"mc": 1, "timeout": 30, "beat": 10}, "Next": "M"},
        "M": dict(inline_map, Next="T"),
        "T": {"Type": "Task", "Resource": LAMBDA + "echo", "TimeoutSecondsPath": "$timeout",
              "HeartbeatSecondsPath": "$beat", "End": True},
    }  # fmt: skip
    arn = engine.create_state_machine("sm", {"StartAt": "Set", "States": states})
    done = engine.wait_for(engine.start_execution(arn, {"items": [1, 2]}), timeout=30)
    assert (done.status.value, done.output) == ("SUCCEEDED", [1, 2]), done.cause


def test_heartbeat_path_not_below_the_timeout_fails_with_states_runtime(engine: Engine) -> None:
    """AWS (Task state): "HeartbeatSeconds ... must be less than the number of seconds
    specified in the TimeoutSeconds field". At load this holds for literals; a value read
    through HeartbeatSecondsPath or TimeoutSecondsPath is checked when the state runs. AWS's
    answer to that case is not recorded; the engine fails it like every other bad …Path value
    (States.Runtime)."""
    state = {"Type": "Task", "Resource": LAMBDA + "echo", "TimeoutSeconds": 10,
             "HeartbeatSecondsPath": "$.beat", "End": True}  # fmt: skip
    done = run(engine, state, {"beat": 10})
    assert_runtime(done, "HeartbeatSeconds (10) must be smaller than TimeoutSeconds (10).")
    state = {"Type": "Task", "Resource": LAMBDA + "echo", "TimeoutSecondsPath": "$.timeout",
             "HeartbeatSeconds": 20, "End": True}  # fmt: skip
    done = run(engine, state, {"timeout": 5})
    assert_runtime(done, "HeartbeatSeconds (20) must be smaller than TimeoutSeconds (5).")
    done = run(engine, state, {"timeout": 21})
    assert done.status.value == "SUCCEEDED", done.cause


def test_heartbeat_expression_not_below_the_timeout_is_a_query_evaluation_error(
    engine: Engine,
) -> None:
    """AWS (Task state): HeartbeatSeconds "must be less than" TimeoutSeconds; (Error
    handling) "States.QueryEvaluationError: Query evaluation failed in a JSONata state, for
    example a type error". A computed value out of its field's range is that error in a
    JSONata state (as every other computed number, `mrbatch.asl.numbers`), so Catch sees it.
    AWS's answer to this case is not recorded."""
    state = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": LAMBDA + "echo",
             "TimeoutSeconds": "{% $states.input.timeout %}",
             "HeartbeatSeconds": "{% $states.input.beat %}", "End": True}  # fmt: skip
    done = run(engine, state, {"timeout": 10, "beat": 12})
    assert (done.status.value, done.output) == ("SUCCEEDED", "caught")
    states = {"A": state}
    arn = engine.create_state_machine("sm2", {"StartAt": "A", "States": states})
    done = engine.wait_for(engine.start_execution(arn, {"timeout": 10, "beat": 12}), timeout=30)
    assert (done.status.value, done.error) == ("FAILED", "States.QueryEvaluationError")
    assert "HeartbeatSeconds (12) must be smaller than TimeoutSeconds (10)." in (done.cause or "")
