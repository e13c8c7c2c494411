"""Browser tests drive Debian's chromium with Playwright (never a downloaded browser).

Without /usr/bin/chromium the tests fail with a message saying how to install it: a
skipped browser test would let `make test` look green without having looked at the page
(`.ci/run` installs chromium first, so CI always runs them).
"""

from __future__ import annotations

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
        pytest.fail(
            f"the dashboard's browser tests did NOT run: {CHROMIUM} is missing. Install "
            "Debian's chromium (`apt-get install -y chromium`; .ci/run does) and run again."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
