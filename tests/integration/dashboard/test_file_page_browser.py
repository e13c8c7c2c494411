"""The per-file page in a real headless chromium against a real stack: a file held in
us-east-1, failed over to us-west-2 and re-driven there shows both regions' parts of its
story, its executions, its invalid rows and a fresh link that serves its output."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
from playwright.sync_api import Browser, Page, expect
from stacktools import EAST, WEST, Stack, running_stack

from mrbatch.handlers import drill
from mrbatch.runtime.operations.runbook import run_runbook
from mrbatch.runtime.wiring import open_region_store

KEY = "input/moved.csv"


def _fail_over_a_held_file(stack: Stack) -> str:
    """Upload the sample, hold its third chunk in us-east-1, fail over, release; returns
    the file id once us-west-2 completed and emailed it."""
    drill.arm(stack.config.run_dir, "process_chunk", region=EAST, min_chunk=3)
    stack.upload(KEY, (stack.sample_dir / "testfile.csv").read_bytes())
    stack.wait(lambda: drill.held(stack.config.run_dir, "process_chunk") is not None, "hold")
    file_id = stack.file_id(KEY)
    result = run_runbook(stack.config, kind="failover", target=WEST, reason="file page test")
    drill.disarm(stack.config.run_dir, "process_chunk")
    assert result["redriven"] == [file_id]
    stack.wait_status(WEST, file_id, "COMPLETED")
    stack.wait(lambda: bool(stack.emails("moved.csv")), "the email about moved.csv")
    return file_id


def _lane(page: Page, region: str, row_text: str) -> str:
    """The text of `region`'s column in the first timeline row containing `row_text`."""
    headers = page.locator("table.timeline thead th").all_inner_texts()
    row = page.locator("table.timeline tbody tr", has_text=row_text).first
    return row.locator("td").nth(headers.index(region)).inner_text()


def test_file_page_shows_both_regions_and_the_redrive_after_a_failover(
    browser: Browser, tmp_path: Path
) -> None:
    with running_stack(tmp_path / "stack") as stack:
        file_id = _fail_over_a_held_file(stack)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(str(stack.record["gateway"]) + "/dashboard/")
        page.locator("table.files a", has_text=KEY).click()  # linked from the overview
        expect(page.locator("#file-key")).to_have_text(KEY)
        assert f"id={quote(file_id, safe='')}" in page.url

        timeline = page.locator("table.timeline")
        expect(timeline).to_contain_text("re-driven by the takeover of epoch 2")
        assert page.locator("table.timeline thead th").all_inner_texts()[1:3] == [EAST, WEST]
        assert "uploaded" in _lane(page, EAST, "uploaded")
        assert "replicated" in _lane(page, WEST, "input replica arrived")
        assert "claimed" in _lane(page, EAST, "under epoch 1")
        assert "failed over" in _lane(page, WEST, "failover us-east-1 -> us-west-2")
        assert "re-driven" in _lane(page, WEST, "re-driven")
        assert "claimed" in _lane(page, WEST, "under epoch 2")
        assert "completed" in _lane(page, WEST, "COMPLETED")
        expect(timeline).to_contain_text("moved.csv is processed")  # the email

        east_main = page.locator(f'details[data-region="{EAST}"][data-machine="main_orchestrator"]')
        expect(east_main.locator("summary")).to_contain_text("ABORTED")
        west_main = page.locator(f'details[data-region="{WEST}"][data-machine="main_orchestrator"]')
        west_main.locator("summary").click()
        expect(west_main.locator("table.history")).to_contain_text("ExecutionSucceeded")

        item = stack.item(WEST, file_id)
        assert item is not None
        invalid = item["counts"]["rowsInvalid"] + item["counts"]["rowsNotEnriched"]
        expect(page.locator("#errors")).to_contain_text(f"{invalid} invalid row(s)")

        link = page.locator("#output-link").get_attribute("href")
        assert link is not None and "X-Amz-Signature=" in link
        served = httpx.get(link, timeout=10)
        _, body = open_region_store(stack.config, WEST).get(item["output"])
        with body:
            assert served.status_code == 200 and served.content == body.read()
        page.screenshot(path=str(tmp_path / "file-page.png"), full_page=True)
        page.close()


def test_file_api_answers_404_for_a_file_no_region_knows(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack") as stack:
        url = str(stack.record["gateway"]) + "/dashboard/api/file"
        response = httpx.get(url, params={"id": "input/never.csv#nope"}, timeout=10)
    assert response.status_code == 404
    assert "input/never.csv#nope" in response.json()["error"]
