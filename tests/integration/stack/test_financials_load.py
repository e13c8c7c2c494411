"""Loading financial data into a running stack while files run: the load commits batch
by batch, the files complete, and every enriched row carries either the old or the new
values of its uuid (never a mix), exactly as far as the load has committed."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from stacktools import EAST, WEST, Stack

from mrbatch.runtime.operations.financials import (
    LoadReport,
    has_financials,
    load_financials_file,
    wait_for_financials,
)
from mrbatch.runtime.services.supervisor import wait_until
from mrbatch.state.db import query_read_only

BATCH = 1000
PAUSE_AT = 10 * BATCH  # the load stops after ten committed batches until the test resumes it
FILLER = 2 * PAUSE_AT  # rows for uuids no input names: what makes the load long


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def _changed(row: list[str]) -> list[str]:
    """The same uuid with other values (each number + 1), so old and new lines differ."""
    return [row[0], *(f"{float(value) + 1:.2f}" for value in row[1:])]


class PausedLoad:
    """`load_financials_file` on a thread that waits, after `PAUSE_AT` rows are committed,
    until `resume` is set (bounded, so a failing test cannot hang)."""

    def __init__(self, stack: Stack, path: Path) -> None:
        self.paused, self.resume = threading.Event(), threading.Event()
        self.report: LoadReport | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(stack, path))

    def _run(self, stack: Stack, path: Path) -> None:
        def progress(written: int, total: int) -> None:
            if written == PAUSE_AT:
                self.paused.set()
                assert self.resume.wait(timeout=300), "the test never resumed the load"

        try:
            self.report = load_financials_file(
                stack.config, path, progress=progress, batch_rows=BATCH
            )
        except BaseException as exc:
            self.error = exc


def test_files_run_while_financial_data_loads_enriched_per_committed_batch(
    stack: Stack, tmp_path: Path
) -> None:
    header, *old = _rows(stack.sample_dir / "testfile_financial_data.csv")
    new = [_changed(row) for row in old]
    half = len(new) // 2
    filler = [[f"8{n:09d}", "1", "1.00", "1.00", "1.00", "1.00", "0.00"] for n in range(FILLER)]
    # the first ten batches hold half of the updated uuids, the rest come after the pause
    load_rows = [*new[:half], *filler[: PAUSE_AT - half], *new[half:], *filler[PAUSE_AT - half :]]
    load_file = _write(tmp_path / "new_financials.csv", [header, *load_rows])
    data = (stack.sample_dir / "testfile.csv").read_bytes()

    old_output = stack.expected_output(tmp_path / "old", data, "f.csv")
    mixed = _write(tmp_path / "mixed.csv", [header, *new[:half], *old[half:]])
    new_only = _write(tmp_path / "new.csv", [header, *new])
    mixed_output = _expected(stack, tmp_path / "mixed", data, mixed)
    new_output = _expected(stack, tmp_path / "new", data, new_only)
    assert len({old_output, mixed_output, new_output}) == 3  # the oracle tells them apart

    load = PausedLoad(stack, load_file)
    load.thread.start()
    try:
        assert load.paused.wait(timeout=300), f"the load did not get going: {load.error!r}"
        # mid-load: the first half of the uuids is committed with the new values
        during = _process(stack, "input/during-load.csv", data)
        assert during == mixed_output
    finally:
        load.resume.set()
    # the load runs on while another file is processed: each line is old or new
    racing = _process(stack, "input/racing-load.csv", data)
    load.thread.join(timeout=600)
    assert not load.thread.is_alive() and load.error is None, load.error
    assert load.report is not None and load.report.rows == len(load_rows)
    assert _each_line_from(racing, old_output, new_output)

    # once replicated, both regions serve the new values, and a new file gets them all
    assert wait_for_financials(stack.config, load.report)
    assert all(has_financials(stack.config, r, new[0][0]) for r in (EAST, WEST))
    assert _process(stack, "input/after-load.csv", data) == new_output


def _expected(stack: Stack, where: Path, data: bytes, financials: Path) -> bytes:
    """`mrbatch process` of `data` against `financials` (chunks of 100, as the stack)."""
    from mrbatch.job.runner import JobOptions, run_job

    source = where / "input" / "f.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    run_job(source, financials, where / "output", options=JobOptions(chunk_size=100))
    return (where / "output" / "f.csv").read_bytes()


def _process(stack: Stack, key: str, data: bytes) -> bytes:
    """Upload `data` as `key`, wait until its file is COMPLETED, return its output."""
    from mrbatch.runtime.wiring import open_region_store

    stack.upload(key, data)
    file_id = stack.file_id(key)
    stack.wait_status(EAST, file_id, "COMPLETED", timeout=180)
    version = file_id.rsplit("#", 1)[1]
    name = key.removeprefix("input/")
    return open_region_store(stack.config, EAST).get_bytes(f"output/completed/{version}/{name}")


def _each_line_from(output: bytes, old: bytes, new: bytes) -> bool:
    """Whether `output` has the lines of `old` / `new`, each line from one of them."""
    lines, before, after = output.splitlines(), old.splitlines(), new.splitlines()
    return len(lines) == len(before) == len(after) and all(
        line in (a, b) for line, a, b in zip(lines, before, after, strict=True)
    )


KILL_ROWS, KILL_BATCH = 120_000, 10_000


def _stored(stack: Stack, region: str) -> dict[str, tuple[str, int, str]]:
    """Every financial row of `region` as stored: uuid -> (JSON text, clock stamp, origin)."""
    rows = query_read_only(
        stack.config.tables_db(region),
        "SELECT pk, item, updated_at, origin FROM financials",
    )
    return {pk: (item, stamp, origin) for pk, item, stamp, origin in rows}


@pytest.mark.parametrize("killed", ["replicator", EAST])
def test_a_process_killed_mid_load_loses_no_row_once_restarted(
    stack: Stack, tmp_path: Path, killed: str
) -> None:
    """SIGKILL the replicator (busy applying the load's pages) or the active region's
    process while a load runs and replicates: once it is restarted both regions hold every
    row with the same text and stamp (last writer wins decided alike), none lost."""
    prefix = f"kill-{killed}-"
    header = _rows(stack.sample_dir / "testfile_financial_data.csv")[0]
    rows = [
        [f"{prefix}{n:06d}", "2", "3.00", "4.00", "5.00", "6.00", "7.00"] for n in range(KILL_ROWS)
    ]
    path = _write(tmp_path / "big.csv", [header, *rows])
    reports: list[LoadReport] = []

    def run() -> None:
        reports.append(load_financials_file(stack.config, path, batch_rows=KILL_BATCH))

    load = threading.Thread(target=run)
    load.start()
    try:
        wait_until(
            lambda: any(uuid.startswith(prefix) for uuid in _stored(stack, WEST)),
            timeout=300,
            what="the load's first rows in us-west-2",
        )
        stack.supervisor.kill(killed)
    finally:
        load.join(timeout=600)
    assert reports and reports[0].rows == KILL_ROWS
    stack.supervisor.restart(killed)
    wait_until(
        lambda: _stored(stack, EAST) == _stored(stack, WEST),
        timeout=300,
        what="both regions' financial tables equal",
    )
    loaded = {k: v for k, v in _stored(stack, WEST).items() if k.startswith(prefix)}
    assert len(loaded) == KILL_ROWS
    assert {origin for _, _, origin in loaded.values()} == {reports[0].region}
