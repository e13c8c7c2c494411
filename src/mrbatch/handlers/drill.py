"""Drill breakpoints: hold a step of the workflow at a known point, for failover drills.

A failover drill has to land "during the chunk Map" or "just before the email", not
somewhere at random. An operator (or a test) arms a breakpoint by writing
`<run_dir>/hold/<step>.json`, optionally narrowed to a region, an input key and the
chunks from a given number on. A handler that reaches an armed breakpoint announces itself
in `<run_dir>/held/<step>.json` and waits until the breakpoint is removed, then goes
on (and meets the fence if the routing control moved meanwhile).

Steps: `split_input_file`, `process_chunk`, `merge_all_files`, `email_the_file`.

Handlers reach breakpoints through `Region.breakpoints`: `NO_BREAKPOINTS` (the default)
holds nothing; `FileBreakpoints(run_dir)`, which the local runtime injects, holds while a
breakpoint file exists (the check is one `stat`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mrbatch.atomic import atomic_write

__all__ = ["NO_BREAKPOINTS", "Breakpoints", "FileBreakpoints", "arm", "disarm", "held"]

_MAX_HOLD_SECONDS = 600.0


def _flag(run_dir: Path, step: str) -> Path:
    return run_dir / "hold" / f"{step}.json"


def _marker(run_dir: Path, step: str) -> Path:
    return run_dir / "held" / f"{step}.json"


def arm(run_dir: Path, step: str, **match: Any) -> None:
    """Arm the breakpoint of `step` in the stack whose process state is `run_dir`
    (`StackConfig.run_dir`); `match` may give region, key, min_chunk (1-based)."""
    atomic_write(_flag(run_dir, step), json.dumps(match).encode())


def disarm(run_dir: Path, step: str) -> None:
    """Release every handler held at `step`."""
    _flag(run_dir, step).unlink(missing_ok=True)


def held(run_dir: Path, step: str) -> dict[str, Any] | None:
    """Who is held at `step` (region, key, chunk, pid), or None."""
    try:
        record: dict[str, Any] = json.loads(_marker(run_dir, step).read_text())
    except (OSError, ValueError):
        return None
    return record


def _matches(rule: dict[str, Any], region: str, key: str, chunk: int | None) -> bool:
    if rule.get("region") not in (None, region) or rule.get("key") not in (None, key):
        return False
    minimum = rule.get("min_chunk")
    return minimum is None or (chunk is not None and chunk >= int(minimum))


class Breakpoints:
    """Where a handler may be held for a drill; this base holds nothing."""

    def hold(self, step: str, *, region: str, key: str, chunk: int | None = None) -> bool:
        """Wait here while the breakpoint of `step` is armed for this work; True if held."""
        return False


NO_BREAKPOINTS = Breakpoints()


class FileBreakpoints(Breakpoints):
    """Breakpoints armed by files under `run_dir` (`<data_dir>/run`), see `arm`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def hold(self, step: str, *, region: str, key: str, chunk: int | None = None) -> bool:
        """See `Breakpoints.hold`."""
        flag = _flag(self.run_dir, step)
        try:
            rule = json.loads(flag.read_text())
        except (OSError, ValueError):
            return False
        if not _matches(rule, region, key, chunk):
            return False
        marker = _marker(self.run_dir, step)
        who = {"region": region, "key": key, "chunk": chunk, "pid": os.getpid()}
        atomic_write(marker, json.dumps(who).encode())
        deadline = time.monotonic() + _MAX_HOLD_SECONDS
        parent = os.getppid()
        try:
            # a breakpoint is a wait on another actor by design; the parent check stops a
            # worker orphaned by a killed region from waiting on
            while flag.exists() and time.monotonic() < deadline and os.getppid() == parent:
                time.sleep(0.05)
        finally:
            marker.unlink(missing_ok=True)
        return True
