"""`mrbatch chaos` on real stacks: a blocked dependency fails the region's real handlers and
heals by itself; duplicate events change nothing; a killed or paused service comes back
under supervision; a blocked active region is failed over by `up --auto-failover`; every
experiment is recorded and shown on the dashboard."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from detached import alive, detached_stack, mrbatch, sample_financials, stack_record
from stacktools import EAST, WEST, Stack, running_stack

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.audit import verify_stack
from mrbatch.runtime.operations.experiments import ChaosLog
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.runtime.wiring import open_routing
from mrbatch.state.db import query_read_only


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack") as running:
        yield running


def _chaos(data_dir: Path, *args: str) -> dict[str, object]:
    done = mrbatch("chaos", *args, "--data-dir", str(data_dir), "--json")
    record: dict[str, object] = json.loads(done.stdout)
    return record


def test_a_blocked_object_store_fails_the_regions_handlers_then_heals(stack: Stack) -> None:
    data = (stack.sample_dir / "testfile.csv").read_bytes()
    # long enough to outlast the region's work on any machine; healed as soon as it failed
    blocked = _chaos(stack.config.data_dir, "block", "--region", EAST, "--target", "objects",
                     "--duration", "10m")  # fmt: skip
    stack.upload("input/blocked.csv", data)  # the access point writes; the region cannot read
    file_id = stack.file_id("input/blocked.csv")
    stack.wait_status(EAST, file_id, "FAILED")
    item = stack.item(EAST, file_id)
    assert item is not None
    assert f"chaos experiment {blocked['id']}" in str(item.get("cause"))
    assert not _healed(stack.config)
    healed_now = mrbatch("chaos", "heal", "--id", str(blocked["id"]),
                         "--data-dir", str(stack.config.data_dir), "--json")  # fmt: skip
    assert [e["id"] for e in json.loads(healed_now.stdout)] == [blocked["id"]]
    assert _healed(stack.config)
    stack.upload("input/healed.csv", data)
    healed = stack.file_id("input/healed.csv")
    for region in (EAST, WEST):
        stack.wait_status(region, healed, "COMPLETED")


def _healed(config: StackConfig) -> bool:
    log = ChaosLog(config)
    try:
        return not any(e.in_force(time.time()) for e in log.experiments())
    finally:
        log.close()


def test_a_mail_outage_shorter_than_the_retries_still_sends_one_email(stack: Stack) -> None:
    _chaos(stack.config.data_dir, "block", "--region", EAST, "--target", "smtp",
           "--duration", "3s", )  # fmt: skip
    stack.upload("input/mail.csv", (stack.sample_dir / "testfile.csv").read_bytes())
    file_id = stack.file_id("input/mail.csv")
    for region in (EAST, WEST):
        stack.wait_status(region, file_id, "COMPLETED", timeout=90)
    stack.wait_settled()
    assert len(stack.emails("mail.csv")) == 1


def test_duplicate_events_start_nothing_new(stack: Stack) -> None:
    stack.upload("input/dup.csv", (stack.sample_dir / "testfile.csv").read_bytes())
    file_id = stack.file_id("input/dup.csv")
    for region in (EAST, WEST):
        stack.wait_status(region, file_id, "COMPLETED")
    stack.wait_settled()
    before = stack.executions(EAST)
    for region in (EAST, WEST):
        record = _chaos(stack.config.data_dir, "duplicate-events", "--region", region)
        assert record["detail"] == "1 input event(s) announced again"
    for region in (EAST, WEST):  # both triggers have read past the re-announced events
        feed = stack.config.feed_db(region)
        stack.wait(lambda f=feed: _trigger_caught_up(f), f"{region}'s trigger")
    assert stack.executions(EAST) == before
    assert verify_stack(stack.config) == []


def _trigger_caught_up(feed: Path) -> bool:
    [(last,)] = query_read_only(feed, "SELECT MAX(seq) FROM changes")
    cursor = query_read_only(feed, "SELECT seq FROM cursors WHERE consumer = 'trigger'")
    return bool(cursor) and cursor[0][0] >= last


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[StackConfig]:
    """`mrbatch up --detach --auto-failover` with a threshold of 2 checks."""
    _, financials = sample_financials(tmp_path / "sample")
    options = ("--auto-failover", "--failure-threshold", "2")
    with detached_stack(tmp_path / "stack", financials, *options) as data_dir:
        yield StackConfig.load(data_dir)


def _running(config: StackConfig, name: str) -> bool:
    service = stack_record(config.data_dir).get("services", {}).get(name, {})
    return bool(service.get("state") == "running")


def test_killed_and_paused_services_come_back_and_a_blocked_region_fails_over(
    supervised: StackConfig,
) -> None:
    config, data_dir = supervised, supervised.data_dir
    old = int(stack_record(data_dir)["pids"]["replicator"])
    _chaos(data_dir, "kill", "--region", "replicator")
    wait_until(
        lambda: (
            int(stack_record(data_dir)["pids"]["replicator"]) != old
            and _running(config, "replicator")
        ),
        timeout=60,
        what="the replicator to be restarted",
    )
    assert not alive(old)

    paused = _chaos(data_dir, "pause", "--region", "mail", "--duration", "1s")
    assert paused["ended_at"] is not None
    mail = int(stack_record(data_dir)["pids"]["mail"])
    state = Path(f"/proc/{mail}/stat").read_text().rpartition(")")[2].split()[0]
    assert state != "T"  # resumed

    _chaos(data_dir, "block", "--region", EAST, "--target", "tables", "--duration", "60s")
    wait_until(
        lambda: open_routing(config).state().active_region == WEST,
        timeout=60,
        what="auto-failover away from the blocked region",
    )
    assert "state table unreachable" in open_routing(config).state().reason

    url = stack_record(data_dir)["gateway"]
    shown = httpx.get(f"{url}/dashboard/api/overview", timeout=10).json()["chaos"]
    assert [(e["kind"], e["target"], e["in_force"]) for e in shown] == [
        ("block", EAST, True),
        ("pause", "mail", False),
        ("kill", "replicator", False),
    ]
