"""The trigger's decisions: standby skips, duplicates start nothing new, an older epoch's
unfinished file is taken over, a finished file is left alone."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mrbatch.handlers.naming import execution_name, file_id
from mrbatch.handlers.trigger import DriveOutcome, accept_file, drive_file
from mrbatch.routing.local import MemoryRoutingControl
from mrbatch.state import BATCH_STATE, MemoryTable

EAST, WEST = "us-east-1", "us-west-2"


class Starts:
    """Records the executions the trigger asks for; same name and input -> same ARN."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, payload: dict[str, Any]) -> str:
        self.calls.append((name, payload))
        return f"arn:{name}"


@pytest.fixture
def routing() -> MemoryRoutingControl:
    return MemoryRoutingControl([EAST, WEST])


def _drive(region: str, table: MemoryTable, routing: MemoryRoutingControl, starts: Starts):  # type: ignore[no-untyped-def]
    return drive_file(
        region=region, key="input/a.csv", version_id="v1", batch_state=table,
        routing=routing, start=starts,
    )  # fmt: skip


def test_standby_region_skips_and_records_nothing(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    outcome = _drive(WEST, table, routing, starts)
    assert outcome.action == "skipped (standby)"
    assert starts.calls == [] and list(table.scan()) == []


def test_active_region_records_initialized_and_starts_by_version_and_epoch(
    routing: MemoryRoutingControl,
) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    outcome = _drive(EAST, table, routing, starts)
    assert outcome.action == "started"
    item = table.get({"file_id": file_id("input/a.csv", "v1")})
    assert item is not None
    assert (item["status"], item["region"], item["epoch"]) == ("INITIALIZED", EAST, 1)
    assert starts.calls == [
        (
            execution_name("input/a.csv", "v1", 1),
            {"fileId": "input/a.csv#v1", "key": "input/a.csv", "versionId": "v1", "epoch": 1,
             "region": EAST},
        )
    ]  # fmt: skip


def test_duplicate_event_asks_for_the_same_execution(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    _drive(EAST, table, routing, starts)
    _drive(EAST, table, routing, starts)
    assert starts.calls[0] == starts.calls[1]  # same name and input: the engine dedupes


def test_duplicate_event_leaves_a_running_file_running(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    _drive(EAST, table, routing, starts)
    table.update({"file_id": "input/a.csv#v1"}, {"status": "RUNNING", "chunks_total": 3})
    _drive(EAST, table, routing, starts)  # the same event again, same epoch
    item = table.get({"file_id": "input/a.csv#v1"})
    assert item is not None
    assert (item["status"], item["epoch"], item["chunks_total"]) == ("RUNNING", 1, 3)


def test_new_version_of_a_key_is_a_new_file_and_a_new_execution(
    routing: MemoryRoutingControl,
) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    for version in ("v1", "v2"):
        drive_file(
            region=EAST, key="input/a.csv", version_id=version, batch_state=table,
            routing=routing, start=starts,
        )  # fmt: skip
    assert [name for name, _ in starts.calls] == [
        "a-csv-7e543a57185a8ba8-e1",
        "a-csv-cf593703a5845f00-e1",
    ]  # written out: sha256 of "input/a.csv#v1" / "#v2", first 16 hex digits
    assert {i["file_id"] for i in table.scan()} == {"input/a.csv#v1", "input/a.csv#v2"}


def test_keys_without_an_input_suffix_are_ignored(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    outcome = drive_file(
        region=EAST, key="input/notes.txt", version_id="v1", batch_state=table,
        routing=routing, start=starts,
    )  # fmt: skip
    assert outcome.action == "ignored" and starts.calls == [] and list(table.scan()) == []
    configured = drive_file(
        region=EAST, key="input/notes.txt", version_id="v1", batch_state=table,
        routing=routing, start=starts, suffixes=(".txt",),
    )  # fmt: skip
    assert configured.action == "started"


def test_new_epoch_takes_over_an_unfinished_file(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    _drive(EAST, table, routing, starts)
    routing.set_active(WEST, "failover")
    outcome = _drive(WEST, table, routing, starts)
    assert outcome.action == "started"
    item = table.get({"file_id": "input/a.csv#v1"})
    assert item is not None and (item["region"], item["epoch"]) == (WEST, 2)
    assert starts.calls[1][0] == "a-csv-7e543a57185a8ba8-e2"  # the epoch is in the name


def test_finished_file_is_not_started_again(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    _drive(EAST, table, routing, starts)
    table.update({"file_id": "input/a.csv#v1"}, {"status": "COMPLETED"})
    routing.set_active(WEST, "failover")
    assert _drive(WEST, table, routing, starts).action == "already finished"
    assert len(starts.calls) == 1


def test_objects_outside_input_are_ignored(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    outcome = drive_file(
        region=EAST, key="output/completed/a.csv", version_id="v1", batch_state=table,
        routing=routing, start=starts,
    )  # fmt: skip
    assert outcome.action == "ignored" and starts.calls == []


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    """Each trigger log line with the context fields the JSON log carries."""
    fields = ("file_id", "execution", "epoch")
    return [
        (r.getMessage(), {f: getattr(r, f) for f in fields if hasattr(r, f)})
        for r in caplog.records
        if r.name == "mrbatch.handlers.trigger"
    ]


def test_start_is_reported_with_file_id_arn_and_logged_with_its_context(
    routing: MemoryRoutingControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mrbatch.handlers.trigger")
    outcome = _drive(EAST, MemoryTable(BATCH_STATE), routing, Starts())
    arn = "arn:a-csv-7e543a57185a8ba8-e1"
    assert outcome == DriveOutcome("started", "input/a.csv#v1", arn)
    assert _logged(caplog) == [
        (
            f"input/a.csv: started {arn} under epoch 1",
            {"file_id": "input/a.csv#v1", "execution": arn, "epoch": 1},
        )
    ]


def test_standby_skip_is_reported_with_file_id_and_logged_with_the_active_region(
    routing: MemoryRoutingControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mrbatch.handlers.trigger")
    outcome = _drive(WEST, MemoryTable(BATCH_STATE), routing, Starts())
    assert outcome == DriveOutcome("skipped (standby)", "input/a.csv#v1")
    assert _logged(caplog) == [
        (
            "input/a.csv: skipped (standby): us-east-1 is active",
            {"file_id": "input/a.csv#v1", "epoch": 1},
        )
    ]


def test_ignored_input_is_reported_with_file_id_and_logged_with_the_suffixes(
    routing: MemoryRoutingControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mrbatch.handlers.trigger")
    outcome = drive_file(
        region=EAST, key="input/notes.txt", version_id="v1", batch_state=MemoryTable(BATCH_STATE),
        routing=routing, start=Starts(),
    )  # fmt: skip
    assert outcome == DriveOutcome("ignored", "input/notes.txt#v1")
    assert _logged(caplog) == [
        ("input/notes.txt: ignored: only keys ending in ('.csv',) are processed", {})
    ]


def test_finished_file_is_reported_with_its_file_id(routing: MemoryRoutingControl) -> None:
    table, starts = MemoryTable(BATCH_STATE), Starts()
    _drive(EAST, table, routing, starts)
    table.update({"file_id": "input/a.csv#v1"}, {"status": "FAILED"})
    assert _drive(EAST, table, routing, starts) == DriveOutcome(
        "already finished", "input/a.csv#v1"
    )


def test_the_announcing_event_is_kept_in_the_record(routing: MemoryRoutingControl) -> None:
    table = MemoryTable(BATCH_STATE)
    event = {"source": "mrbatch.changefeed", "detail": {"seq": 7}}
    drive_file(
        region=EAST, key="input/a.csv", version_id="v1", batch_state=table, routing=routing,
        start=Starts(), event=event,
    )  # fmt: skip
    item = table.get({"file_id": "input/a.csv#v1"})
    assert item is not None and item["event"] == {
        "source": "mrbatch.changefeed",
        "detail": {"seq": 7},
    }


# --- accept_file: the admission queue's first pass (record, do not start) ------------------


def test_accept_records_initialized_with_its_event_and_starts_nothing(
    routing: MemoryRoutingControl,
) -> None:
    table = MemoryTable(BATCH_STATE)
    event = {"source": "mrbatch.changefeed", "detail": {"seq": 3}}
    outcome = accept_file(
        region=EAST, key="input/a.csv", version_id="v1", batch_state=table, routing=routing,
        event=event,
    )  # fmt: skip
    assert outcome == DriveOutcome("accepted", "input/a.csv#v1", None)
    item = table.get({"file_id": "input/a.csv#v1"})
    assert item is not None
    assert (item["status"], item["region"], item["epoch"], item["key"], item["version_id"]) == (
        "INITIALIZED", EAST, 1, "input/a.csv", "v1",
    )  # fmt: skip
    assert item["event"] == event


def test_accept_is_idempotent_and_leaves_a_running_file_running(
    routing: MemoryRoutingControl,
) -> None:
    table = MemoryTable(BATCH_STATE)
    accept = dict(region=EAST, key="input/a.csv", version_id="v1", batch_state=table,
                  routing=routing)  # fmt: skip
    accept_file(**accept)  # type: ignore[arg-type]
    table.update({"file_id": "input/a.csv#v1"}, {"status": "RUNNING"})
    assert accept_file(**accept) == DriveOutcome("accepted", "input/a.csv#v1")  # type: ignore[arg-type]
    item = table.get({"file_id": "input/a.csv#v1"})
    assert item is not None and item["status"] == "RUNNING"


def test_accept_skips_in_the_standby_and_ignores_what_is_not_an_input(
    routing: MemoryRoutingControl,
) -> None:
    table = MemoryTable(BATCH_STATE)
    standby = accept_file(region=WEST, key="input/a.csv", version_id="v1", batch_state=table,
                          routing=routing)  # fmt: skip
    assert standby.action == "skipped (standby)"
    ignored = accept_file(region=EAST, key="input/notes.txt", version_id="v1",
                          batch_state=table, routing=routing)  # fmt: skip
    assert ignored.action == "ignored"
    assert list(table.scan()) == []
    configured = accept_file(region=EAST, key="input/notes.txt", version_id="v1",
                             batch_state=table, routing=routing, suffixes=(".txt",))  # fmt: skip
    assert configured.action == "accepted"
