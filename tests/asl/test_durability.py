"""Kill the engine process with SIGKILL mid-Map, restart it, and check nothing ran twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent


def _spawn(mode: str, db: Path, log: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    return subprocess.Popen(
        [sys.executable, str(HERE / "engine_proc.py"), mode, str(db), str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _runs(log: Path) -> Counter[int]:
    if not log.exists():
        return Counter()
    return Counter(int(line) for line in log.read_text().split())


def _wait_until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.01)  # polling a file written by another process


def _memoised_items(db: Path) -> set[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT value FROM memo WHERE key LIKE '%:result'").fetchall()
    return {json.loads(v)["ok"]["item"] for (v,) in rows}


def test_sigkill_mid_map_resumes_without_rerunning_completed_tasks(tmp_path: Path) -> None:
    reference = _spawn("start", tmp_path / "ref.db", tmp_path / "ref.log")
    expected, _ = reference.communicate(timeout=120)
    assert json.loads(expected)["status"] == "SUCCEEDED"

    db, log = tmp_path / "wf.db", tmp_path / "wf.log"
    victim = _spawn("start", db, log)
    try:
        _wait_until(lambda: sum(_runs(log).values()) >= 6, timeout=60)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        assert victim.stdout is not None
        victim.stdout.close()
    done_before_kill = _memoised_items(db)
    runs_before_kill = _runs(log)
    assert 1 <= len(done_before_kill) < 20, "the kill must land in the middle of the Map"

    resumed = _spawn("resume", db, log)
    output, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert json.loads(output) == json.loads(expected)
    runs = _runs(log)
    assert sorted(runs) == list(range(20))
    for item in done_before_kill:
        assert runs[item] == 1, f"item {item} completed before the kill but ran again"
    in_flight = set(runs_before_kill) - done_before_kill
    assert len(in_flight) <= 2  # MaxConcurrency: at most 2 may have been cut off mid-run
    assert all(runs[i] <= 2 for i in in_flight)
    assert sum(runs.values()) <= 20 + len(in_flight)
