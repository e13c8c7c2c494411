"""`mrbatch process` and `sample` through the CLI and run_job: outputs, exit codes,
atomicity, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrbatch.cli.app import app
from mrbatch.errors import InputFileError
from mrbatch.job import JobOptions, run_job
from mrbatch.job import runner as job_runner

from .pipeline_samples import FIN_A, FIN_B, FINANCIALS, HEADER, OUT_HEADER, ROW_A, ROW_B

runner = CliRunner()


def _files(tmp_path: Path, body: bytes) -> tuple[Path, Path]:
    data, fin = tmp_path / "orders.csv", tmp_path / "fin.csv"
    data.write_bytes(body)
    fin.write_bytes(FINANCIALS)
    return data, fin


def test_process_writes_output_errors_and_summary(tmp_path: Path) -> None:
    data, fin = _files(tmp_path, HEADER + ROW_A + b"\nbad\n" + ROW_B + b"\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["process", str(data), "--financials", str(fin),
                                 "--out", str(out), "--json", "--chunk-size", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("rows_read", "rows_written", "rows_invalid",
                                    "rows_not_enriched", "chunks")} == {
        "rows_read": 3, "rows_written": 2, "rows_invalid": 1, "rows_not_enriched": 0,
        "chunks": 3}  # fmt: skip
    assert (out / "orders.csv").read_bytes() == (
        OUT_HEADER + ROW_A + FIN_A + b"\n" + ROW_B + FIN_B + b"\n"
    )
    assert (out / "orders.errors.csv").read_text() == (
        "file,row,field,rule,message,raw_row\n"
        f'{data},3,,fieldCount,"expected 8 fields, found 1",bad\n'
    )
    assert sorted(p.name for p in out.iterdir()) == ["orders.csv", "orders.errors.csv"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"uuid,Country\n1,2\n", "the header lacks the column(s): Item Type, Sales Channel, "
         "Order Priority, Order Date, Region, Ship Date"),
        (HEADER + b'535113847,"Azer\n',
         "row 2: a quoted field is never closed (unterminated quote)"),
    ],
)  # fmt: skip
def test_bad_file_fails_cleanly_and_writes_nothing(tmp_path: Path, body: bytes, reason: str):
    data, fin = _files(tmp_path, body)
    out = tmp_path / "out"
    result = runner.invoke(app, ["process", str(data), "--financials", str(fin), "--out", str(out)])
    assert result.exit_code == 1
    assert str(result.exception) == f"{data}: {reason}"
    assert not out.exists()


def test_bad_file_message_from_the_real_command(tmp_path: Path) -> None:
    data, fin = _files(tmp_path, b"")
    out = tmp_path / "out"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mrbatch")), "process", str(data),
         "--financials", str(fin), "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"error: {data}: the file is empty (0 bytes)\n"
    assert "Traceback" not in done.stderr + done.stdout
    assert not out.exists()


def test_failing_chunk_leaves_previous_output_and_no_temp_files(tmp_path: Path) -> None:
    data, fin = _files(tmp_path, HEADER + ROW_A + b"\n")
    out = tmp_path / "out"
    run_job(data, fin, out, options=JobOptions(workers=1))
    before = (out / "orders.csv").read_bytes()
    fin.write_bytes(b"uuid,wrong\n1,2\n")
    with pytest.raises(InputFileError, match="the header must be"):
        run_job(data, fin, out, options=JobOptions(workers=1))
    assert (out / "orders.csv").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["orders.csv", "orders.errors.csv"]


def test_header_only_input_gives_header_only_outputs(tmp_path: Path) -> None:
    data, fin = _files(tmp_path, HEADER)
    summary = run_job(data, fin, tmp_path / "out", options=JobOptions(workers=1))
    assert (summary.rows_read, summary.chunks) == (0, 0)
    assert (tmp_path / "out" / "orders.csv").read_bytes() == OUT_HEADER
    assert (tmp_path / "out" / "orders.errors.csv").read_bytes() == (
        b"file,row,field,rule,message,raw_row\n"
    )


def test_sample_is_deterministic_and_processes_with_the_expected_errors(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, ["sample", "--rows", "3000", "--seed", "5",
                                     "--invalid-fraction", "0.05", "--out",
                                     str(tmp_path / name)])  # fmt: skip
        assert result.exit_code == 0, result.output
    a, b = tmp_path / "a" / "testfile.csv", tmp_path / "b" / "testfile.csv"
    assert a.read_bytes() == b.read_bytes()
    lines = a.read_text().splitlines()
    assert lines[0] == HEADER.decode().rstrip("\n") and len(lines) == 3001
    uuids = [line.split(",")[0] for line in lines[1:]]
    assert len(set(uuids)) == 3000
    summary = run_job(a, tmp_path / "a" / "testfile_financial_data.csv", tmp_path / "out",
                      options=JobOptions(workers=1))  # fmt: skip
    assert summary.rows_read == 3000
    assert 100 < summary.rows_invalid + summary.rows_not_enriched < 200
    assert summary.rows_written == 3000 - summary.rows_invalid - summary.rows_not_enriched


def test_sample_financial_totals_are_consistent(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", "--rows", "500", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    from decimal import Decimal

    orders = (tmp_path / "testfile.csv").read_text().splitlines()[1:]
    rows = (tmp_path / "testfile_financial_data.csv").read_text().splitlines()[1:]
    assert len(rows) == 500
    assert [row.split(",")[0] for row in rows] == [order.split(",")[0] for order in orders]
    # Worked by hand: the first order (seed 3) is Cereal, 205.70 a unit, costing 117.11;
    # 9517 units: revenue 1,957,646.90, cost 1,114,535.87, profit 843,111.03.
    assert orders[0].startswith("355512575,Canada,Cereal,")
    assert rows[0] == "355512575,9517,205.7,117.11,1957646.9,1114535.87,843111.03"
    for row in rows:
        _, units, price, cost, revenue, total_cost, profit = row.split(",")
        assert Decimal(revenue) == int(units) * Decimal(price)
        assert Decimal(total_cost) == int(units) * Decimal(cost)
        assert Decimal(profit) == Decimal(revenue) - Decimal(total_cost)


def test_parallel_workers_give_the_same_bytes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", "--rows", "3000", "--seed", "2",
                                 "--invalid-fraction", "0.02", "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data, fin = tmp_path / "testfile.csv", tmp_path / "testfile_financial_data.csv"
    one = run_job(data, fin, tmp_path / "one", options=JobOptions(chunk_size=1000, workers=1))
    two = run_job(data, fin, tmp_path / "two", options=JobOptions(chunk_size=170, workers=2))
    assert (tmp_path / "one" / "testfile.csv").read_bytes() == (
        tmp_path / "two" / "testfile.csv"
    ).read_bytes()
    assert (tmp_path / "one" / "testfile.errors.csv").read_bytes() == (
        tmp_path / "two" / "testfile.errors.csv"
    ).read_bytes()
    assert (one.rows_written, one.rows_invalid) == (two.rows_written, two.rows_invalid)


def test_parallel_workers_give_the_same_bytes_over_many_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small batches: the first ones are checked ahead while the index is built."""
    command = ["sample", "--rows", "4000", "--seed", "5", "--invalid-fraction", "0.05",
               "--invalid-kinds", "all", "--out", str(tmp_path)]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    data, fin = tmp_path / "testfile.csv", tmp_path / "testfile_financial_data.csv"
    one = run_job(data, fin, tmp_path / "one", options=JobOptions(chunk_size=100, workers=1))
    monkeypatch.setattr(job_runner, "_ROWS_PER_TASK", 200)
    two = run_job(data, fin, tmp_path / "two", options=JobOptions(chunk_size=100, workers=3))
    for name in ("testfile.csv", "testfile.errors.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (one.rows_written, one.rows_invalid, one.chunks) == (
        two.rows_written, two.rows_invalid, two.chunks)  # fmt: skip
    assert one.rows_invalid > 0
