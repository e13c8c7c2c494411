"""The online suite: it deploys into a real AWS account, so it is never collected by the
default run (tests/e2e_aws is outside testpaths' reach: this conftest ignores it unless
MRBATCH_AWS_E2E=1). Run it with credentials set:

    MRBATCH_AWS_E2E=1 .venv/bin/pytest tests/e2e_aws -p no:cacheprovider
"""

from __future__ import annotations

import os
from pathlib import Path


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Skip collecting (not report as skipped) unless asked for the online run."""
    if os.environ.get("MRBATCH_AWS_E2E") != "1":
        return True
    return None
