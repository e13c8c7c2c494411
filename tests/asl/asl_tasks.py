"""Task bodies for the engine tests: importable top-level functions (the worker pool needs them).

`record` appends one line per invocation to the file named in the event, so a test can count
how many times each item really ran, across processes and restarts.
"""

from __future__ import annotations

import os
import time
from typing import Any


def record(event: dict[str, Any]) -> dict[str, Any]:
    """Record the invocation, work a little, return the item doubled."""
    with open(event["log"], "a", encoding="utf-8") as fh:
        fh.write(f"{event['item']}\n")
        fh.flush()
        os.fsync(fh.fileno())
    time.sleep(event.get("work", 0.0))  # simulated work, not synchronisation
    return {"item": event["item"], "double": event["item"] * 2}


def boom(event: Any) -> Any:
    """Always fails with a ValueError."""
    raise ValueError(f"bad event {event!r}")
