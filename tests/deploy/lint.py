"""Render deploy/aws's templates into a folder and run cfn-lint over them (both regions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mrbatch.aws.deploy.templates import DEFINITIONS_DIR, render

TEMPLATES = ("artifacts", "global", "storage", "routing", "regional", "operations", "chaos")
REGIONS = ("us-east-1", "us-west-2")


def lint(folder: Path, definitions_dir: Path = DEFINITIONS_DIR) -> subprocess.CompletedProcess[str]:
    """cfn-lint's run over every rendered template in `folder` (one process: it is slow
    to start), for both regions; the embedded definitions come from `definitions_dir`."""
    paths = []
    for name in TEMPLATES:
        path = folder / f"{name}.json"
        path.write_text(render(name, definitions_dir=definitions_dir).text(), encoding="utf-8")
        paths.append(str(path))
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from cfnlint.runner import main; main()",
            "--regions",
            *REGIONS,
            "--",
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
