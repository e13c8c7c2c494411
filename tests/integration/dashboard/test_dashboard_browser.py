"""The dashboard in a real headless chromium against a real stack: it shows an uploaded
file's progress and follows a failover without being reloaded."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect
from prometheus_client.parser import text_string_to_metric_families
from stacktools import EAST, WEST, Stack, running_stack

from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.operations.runbook import run_runbook

ROWS = 250  # three chunks of 100


def _dashboard_url(stack: Stack) -> str:
    return str(stack.record["gateway"]) + "/dashboard/"


def _upload_sample(stack: Stack, tmp_path: Path) -> str:
    sample, _ = write_sample_files(tmp_path / "upload", "web", ROWS, 11, 0.05)
    key = "input/web.csv"
    stack.upload(key, sample.read_bytes())
    file_id = stack.file_id(key)
    stack.wait_status(EAST, file_id, "COMPLETED")
    stack.wait(lambda: bool(stack.emails("web.csv")), "the email about web.csv")
    return file_id


def test_dashboard_shows_the_processed_file_and_follows_a_failover(
    browser: Browser, tmp_path: Path
) -> None:
    with running_stack(tmp_path / "stack") as stack:
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(_dashboard_url(stack))
        expect(page.locator("#active-region")).to_have_text(EAST)
        _upload_sample(stack, tmp_path)

        east = page.locator(f'.region[data-region="{EAST}"]')
        # files by status, executions and the sample's graphs, updated by polling alone
        expect(east.locator("table.files-by-status")).to_contain_text("COMPLETED")
        expect(east.locator("table.executions")).to_contain_text("main_orchestrator")
        processed = east.locator(".chart", has_text="Files processed")
        expect(processed.locator(".legend")).to_contain_text("processed 1")
        expect(east.locator(".chart", has_text="Input files split")).to_contain_text("split 1")
        expect(east.locator(".chart", has_text="Chunk processor")).to_contain_text("succeeded 3")
        expect(page.locator("table.emails")).to_contain_text("web.csv is processed")
        # the input's replica gave us-east-1 -> us-west-2 latency percentiles; nothing went back
        replication = page.locator("table.replication tbody tr")
        expect(replication.filter(has_text=f"{EAST}->{WEST}")).not_to_contain_text("—")
        expect(replication.filter(has_text=f"{WEST}->{EAST}")).to_contain_text("—")
        expect(east).to_have_class("region active")

        run_runbook(stack.config, kind="failover", target=WEST, reason="browser test")
        expect(page.locator("#active-region")).to_have_text(WEST)
        expect(page.locator(f'.region[data-region="{WEST}"]')).to_have_class("region active")
        expect(east).to_have_class("region standby")
        runbooks = page.locator("table.runbooks")
        expect(runbooks).to_contain_text("failover")
        expect(runbooks).to_contain_text("Reconcile Success")
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.close()


def test_metrics_endpoint_parses_and_counts_what_was_done(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack") as stack:
        _upload_sample(stack, tmp_path)
        run_runbook(stack.config, kind="failover", target=WEST, reason="metrics test")
        url = str(stack.record["gateway"]) + "/metrics"
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }
    east, west = (("region", EAST),), (("region", WEST),)
    assert samples[("mrbatch_input_files_split_total", east)] == 1
    assert samples[("mrbatch_processed_files_total", east)] == 1
    assert samples[("mrbatch_email_sent_total", east)] == 1
    failover = (("kind", "failover"), ("region", WEST))
    assert samples[("mrbatch_regional_failover_total", failover)] == 1
    main = (("region", EAST), ("state_machine", "main_orchestrator"))
    assert samples[("mrbatch_executions_started_total", main)] == 1
    ended = (*main, ("status", "succeeded"))
    assert samples[("mrbatch_executions_ended_total", ended)] == 1
    assert samples[("mrbatch_active_region", west)] == 1
    assert samples[("mrbatch_active_region", east)] == 0
    assert samples[("mrbatch_routing_epoch", ())] == 2
