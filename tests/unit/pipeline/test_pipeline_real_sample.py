"""The AWS sample's own files (tests/data/aws-sample) go through intact.

The expected values below were read by hand from testfile.csv and
testfile_financial_data.csv; note that testfile.csv has no line end after its last row.
"""

from __future__ import annotations

from pathlib import Path

from mrbatch.job import JobOptions, run_job

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "aws-sample"


def test_real_sample_is_fully_enriched(tmp_path: Path) -> None:
    data, fin = SAMPLE / "testfile.csv", SAMPLE / "testfile_financial_data.csv"
    assert data.is_file(), f"the AWS sample is expected at {SAMPLE}"
    summary = run_job(data, fin, tmp_path, options=JobOptions(chunk_size=1000, workers=1))
    assert (summary.rows_read, summary.rows_written, summary.rows_invalid) == (10000, 10000, 0)
    assert (summary.rows_not_enriched, summary.chunks) == (0, 10)
    lines = (tmp_path / "testfile.csv").read_text().split("\n")
    assert len(lines) == 10002 and lines[-1] == ""
    assert lines[1] == (
        "535113847,Azerbaijan,Snacks,Online,C,10/8/14,Middle East and North Africa,10/23/14,"
        "934,152.58,97.44,142509.72,91008.96,51500.76"
    )
    assert lines[5000] == (
        "723319518,Vietnam,Household,Online,C,4/27/10,Asia,6/9/10,"
        "5174,668.27,502.54,3457628.98,2600141.96,857487.02"
    )
    assert lines[10000] == (
        "100672805,Italy,Fruits,Offline,H,4/30/11,Europe,6/9/11,175,9.33,6.92,1632.75,1211,421.75"
    )
    assert (tmp_path / "testfile.errors.csv").read_text() == "file,row,field,rule,message,raw_row\n"
    # Every input value is copied as it is: the output minus the financial columns is the input.
    original = data.read_text().split("\n")
    assert [",".join(line.split(",")[:8]) for line in lines[:-1]] == original
