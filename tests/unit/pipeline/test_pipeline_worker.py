"""The job's worker functions, called in this process: a batch checked ahead of the
financial index (`prepare_task`) ends as the same parts as one processed at once, and a
check that failed fails the batch in its turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrbatch.job.plan import plan_batches
from mrbatch.job.worker import Task, build_index, prepare_task, run_task

from .pipeline_samples import FINANCIALS, HEADER, ROW_A, ROW_B

# Valid, not enriched, quoted (raw record not the output text), wrong field count, bad date.
_ROWS = [ROW_A, b"123456789,Peru,Fruits,Online,C,1/2/15,South America,1/3/15", ROW_B,
         b'535113847,"Azer, baijan",Snacks,Online,C,10/8/14,Asia,10/23/14',
         b"874708545,Panama", ROW_B.replace(b"2/22/15", b"2/30/15")]  # fmt: skip
_BODY = b"\n".join(_ROWS) + b"\n"


def _task(tmp_path: Path, name: str, data: Path | None = None) -> Task:
    source = data or tmp_path / "orders.csv"
    if data is None:
        source.write_bytes(HEADER + _BODY)
    with source.open("rb") as stream:
        batch = plan_batches(stream, records_per_batch=100, file=str(source)).batches[0]
    return Task(0, str(source), batch, HEADER, 1000, str(tmp_path / "index"), None, ",",
                str(tmp_path / f"{name}.out"), str(tmp_path / f"{name}.err"))  # fmt: skip


@pytest.fixture
def index(tmp_path: Path) -> None:
    fin = tmp_path / "fin.csv"
    fin.write_bytes(FINANCIALS)
    build_index((str(fin), str(tmp_path / "index"), None))


@pytest.mark.usefixtures("index")
def test_a_batch_checked_ahead_ends_as_the_parts_of_one_processed_at_once(tmp_path: Path) -> None:
    at_once, ahead = _task(tmp_path, "at_once"), _task(tmp_path, "ahead")
    counts = run_task(at_once)
    prepare_task(ahead)
    assert run_task(ahead) == counts
    assert (counts.read, counts.written, counts.invalid, counts.not_enriched) == (6, 3, 2, 1)
    assert Path(ahead.output).read_bytes() == Path(at_once.output).read_bytes()
    errors = Path(ahead.errors).read_bytes()
    assert errors == Path(at_once.errors).read_bytes()
    rows = [line.split(b",")[1] for line in errors.splitlines()]
    assert rows == [b"3", b"6", b"7"]  # row order, the enrichment error among the others


@pytest.mark.usefixtures("index")
def test_a_batch_whose_check_ahead_failed_fails_in_its_turn(tmp_path: Path) -> None:
    task = _task(tmp_path, "gone")
    kept = Path(task.file).read_bytes()
    Path(task.file).unlink()
    prepare_task(task)  # keeps the error instead of raising it
    Path(task.file).write_bytes(kept)
    with pytest.raises(FileNotFoundError):
        run_task(task)  # the error of the check, not a second reading
    assert not Path(task.output).exists()
