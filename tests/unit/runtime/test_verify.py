"""The outside checker on hand-made snapshots: a healthy stack has no violation, and each
kind of broken promise is reported (including the three the adversarial testing found: a
file stranded by a routing change, an older version's output served for a newer one, and
an identical re-upload that never reached the other region)."""

from __future__ import annotations

from mrbatch.runtime.operations.verify import Email, Snapshot, Violation, check

EAST, WEST = "us-east-1", "us-west-2"
FID = "input/a.csv#v1"
OUT = "output/completed/v1/a.csv"
LINK = "http://127.0.0.1:9/mrbatch/output/completed/v1/a.csv?X-Amz-Signature=abc"


def _item(file_id: str = FID, **changes: object) -> dict[str, object]:
    version = file_id.rpartition("#")[2]
    item: dict[str, object] = {
        "file_id": file_id, "status": "COMPLETED", "epoch": 1, "completed_region": EAST,
        "output": f"output/completed/{version}/a.csv",
    }  # fmt: skip
    item.update(changes)
    return item


def _body(version: str = "v1", link: str = LINK) -> str:
    return f"The file input/a.csv (version {version}) has been processed.\n\n{link}\n"


def healthy() -> Snapshot:
    return Snapshot(
        inputs={EAST: {FID}, WEST: {FID}},
        items={EAST: {FID: _item()}, WEST: {FID: _item()}},
        outputs={EAST: {OUT: b"rows"}, WEST: {OUT: b"rows"}},
        routing={1: EAST},
        emails=[Email(FID, _body())],
        links={LINK: b"rows"},
        running=[],
        services={"us-east-1": True, "gateway": True},
    )


def kinds(found: list[Violation]) -> list[tuple[str, str]]:
    return [(v.kind, v.file_id) for v in found]


def test_a_healthy_stack_has_no_violation() -> None:
    assert check(healthy()) == []


def test_a_file_stranded_running_is_lost() -> None:
    snapshot = healthy()
    snapshot.items[WEST][FID] = _item(status="RUNNING")  # a routing change stranded it
    assert ("lost", FID) in kinds(check(snapshot))


def test_an_input_version_nobody_recorded_is_lost() -> None:
    snapshot = healthy()
    snapshot.inputs[WEST].add("input/a.csv#v2")  # replicated, never claimed
    assert kinds(check(snapshot)) == [("lost", "input/a.csv#v2"), ("lost", "input/a.csv#v2")]


def test_a_completed_version_needs_exactly_one_email() -> None:
    snapshot = healthy()
    snapshot.emails.append(Email(FID, _body()))
    assert kinds(check(snapshot)) == [("emails", FID)]
    snapshot.emails = []
    assert kinds(check(snapshot)) == [("emails", FID)]


def test_an_output_missing_in_a_region_or_unlike_the_reference_is_reported() -> None:
    snapshot = healthy()
    del snapshot.outputs[WEST][OUT]  # e.g. never replicated
    assert kinds(check(snapshot)) == [("output", FID)]
    differs = check(healthy(), reference=lambda file_id: b"other rows")
    assert kinds(differs) == [("output", FID), ("output", FID)]
    assert check(healthy(), reference=lambda file_id: b"rows") == []


def test_a_link_serving_another_versions_rows_is_reported() -> None:
    snapshot = healthy()
    snapshot.links[LINK] = b"rows of version 2"  # an older run overwrote the output
    assert kinds(check(snapshot)) == [("link", FID)]


def test_an_email_naming_another_version_is_reported() -> None:
    snapshot = healthy()
    snapshot.emails = [Email(FID, _body(version="v2"))]  # emailed over a newer version
    assert kinds(check(snapshot)) == [("link", FID)]


def test_work_completed_by_a_region_not_active_under_its_epoch_is_reported() -> None:
    snapshot = healthy()
    snapshot.routing = {1: EAST, 2: WEST}
    for items in snapshot.items.values():
        items[FID] = _item(epoch=2)  # completed by us-east-1 under epoch 2, when WEST was
    assert kinds(check(snapshot)) == [("region", FID)]


def test_a_running_execution_and_a_dead_service_are_reported() -> None:
    snapshot = healthy()
    snapshot.running = ["us-west-2:a-csv-e2"]
    snapshot.services["gateway"] = False
    assert kinds(check(snapshot)) == [("running", "us-west-2:a-csv-e2"), ("service", "gateway")]


def test_a_failed_version_is_terminal_and_needs_no_email() -> None:
    snapshot = healthy()
    for items in snapshot.items.values():
        items[FID] = {"file_id": FID, "status": "FAILED", "epoch": 1}
    snapshot.emails = []
    assert check(snapshot) == []
