"""Browser tests drive Debian's chromium with Playwright (never a downloaded browser).

CI (`CI` set, as `.ci/run` runs) installs chromium first and fails these tests when it is
missing, so CI always looks at the page. On a user's machine without chromium (the README
promises that `make test` works with only Python and make) they are reported as not run,
with the reason and how to install it, in `make test`'s summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        why = (
            f"the dashboard's browser tests did NOT run: {CHROMIUM} is missing. Install "
            "Debian's chromium (`apt-get install -y chromium`; .ci/run does) and run again."
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # CI must always look at the page
        pytest.skip(why)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
