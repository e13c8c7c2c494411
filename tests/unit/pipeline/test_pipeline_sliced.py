"""The sliced join (used when the financial file is too big for an index per worker) gives
byte for byte the same output and errors report as the whole-index join."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.job import sliced as sliced_module
from mrbatch.job.runner import JobOptions, run_job
from mrbatch.pipeline import output_header
from mrbatch.pipeline.columns import output_header_line
from mrbatch.pipeline.sample import INPUT_COLUMNS, write_sample_files


@pytest.mark.parametrize("workers", [1, 2])
def test_sliced_join_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    source, financials = write_sample_files(tmp_path / "in", "sales", 3000, 5, 0.05)
    options = JobOptions(chunk_size=250, workers=workers)
    whole = run_job(source, financials, tmp_path / "whole", options=options)

    monkeypatch.setattr(sliced_module, "WHOLE_INDEX_BYTES", 0)
    monkeypatch.setattr(sliced_module, "SLICE_BYTES", 40_000)  # several slices
    assert sliced_module.slice_count(financials) > 2
    sliced = run_job(source, financials, tmp_path / "sliced", options=options)

    for name in ("sales.csv", "sales.errors.csv"):
        assert (tmp_path / "sliced" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert (sliced.rows_written, sliced.rows_invalid, sliced.rows_not_enriched) == (
        whole.rows_written,
        whole.rows_invalid,
        whole.rows_not_enriched,
    )
    assert whole.rows_invalid > 0


@pytest.mark.parametrize(
    "columns",
    [INPUT_COLUMNS, ("a", "b c", "d"), ("with,comma", "x"), ('quo"te', "x"), ("line\nbreak",)],
)
def test_plain_header_line_matches_the_csv_writer(columns: tuple[str, ...]) -> None:
    line = output_header_line(columns)
    if line is None:  # names that need quoting are left to the CSV writer
        assert any(c in name for name in columns for c in ',"\n\r')
    else:
        assert line == output_header(columns)
