"""The job's fast paths give exactly what the reference paths give: batch planning against
`split`, a batch against merged chunks, the financial index against the financial CSV, and
the CSV value encoding against polars' writer."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrbatch.errors import InputFileError
from mrbatch.job import plan as plan_module
from mrbatch.job.plan import plan_batches
from mrbatch.pipeline import CsvFinancialSource, merge, process_chunk, split, write_csv
from mrbatch.pipeline.enrich import FinancialIndex, csv_value
from mrbatch.pipeline.process import process_batch

from .pipeline_samples import FINANCIALS, HEADER, OUT_HEADER

_FIN_HEADER = b"uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n"
_cell = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.lists(_cell, min_size=1, max_size=3), max_size=25))
    buffer = io.StringIO()
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    csv.writer(buffer, lineterminator=ending).writerows([["a", "b"], *rows])
    data = buffer.getvalue().encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data.removesuffix(ending.encode()) if draw(st.booleans()) else data


@settings(max_examples=200, deadline=None)
@given(data=_files(), per_batch=st.integers(1, 6))
def test_batches_hold_exactly_the_records_of_split(data: bytes, per_batch: int) -> None:
    plan = plan_batches(io.BytesIO(data), records_per_batch=per_batch)
    chunks = list(split(io.BytesIO(data), chunk_size=per_batch))
    assert plan.records == sum(chunk.records for chunk in chunks)
    assert [plan.header.raw + data[b.start : b.end] for b in plan.batches] == [
        chunk.data for chunk in chunks
    ]
    assert [(b.first_row, b.records) for b in plan.batches] == [
        (chunk.first_row, chunk.records) for chunk in chunks
    ]


@settings(max_examples=150, deadline=None)
@given(data=_files(), per_batch=st.integers(1, 6), block=st.integers(1, 9))
def test_quotes_across_blocks_are_planned_like_split(
    data: bytes, per_batch: int, block: int
) -> None:
    # Tiny blocks: a quoted field (and its line breaks) spans several of them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_module, "_BLOCK", block)
        plan = plan_batches(io.BytesIO(data), records_per_batch=per_batch)
    chunks = list(split(io.BytesIO(data), chunk_size=per_batch))
    assert [plan.header.raw + data[b.start : b.end] for b in plan.batches] == [
        chunk.data for chunk in chunks
    ]
    assert [(b.first_row, b.records) for b in plan.batches] == [
        (chunk.first_row, chunk.records) for chunk in chunks
    ]


def test_planning_refuses_an_unterminated_quote_like_split() -> None:
    data = HEADER + b'535113847,"Azer\n'
    with pytest.raises(InputFileError, match="row 2: a quoted field is never closed"):
        plan_batches(io.BytesIO(data), records_per_batch=10, file="in.csv")


_value = st.one_of(
    st.sampled_from(["535113847", "874708545", "854349935", "111111111", "1/2/15", "x", ""]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=8),
    st.text(alphabet='a,"\n ', max_size=5),
)


@st.composite
def _orders(draw: st.DrawFn) -> bytes:
    rows = [[draw(_value) for _ in range(draw(st.sampled_from([8, 8, 8, 7])))]
            for _ in range(draw(st.integers(0, 20)))]  # fmt: skip
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return HEADER + buffer.getvalue().encode()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FinancialIndex:
    fin = tmp_path_factory.mktemp("fin") / "fin.csv"
    fin.write_bytes(FINANCIALS)
    return FinancialIndex.from_path(fin)


@settings(max_examples=150, deadline=None)
@given(data=_orders(), size=st.integers(1, 6))
def test_a_batch_is_its_chunks_merged(data: bytes, size: int, rules, financials, index) -> None:
    source = financials
    chunks = [(c.data, c.first_row) for c in split(io.BytesIO(data), chunk_size=size)]
    results = [process_chunk(d, rules=rules, financials=source, first_row=r) for d, r in chunks]
    merged = io.BytesIO()
    merge([io.BytesIO(result.output) for result in results], merged, header=OUT_HEADER)
    for financials in (index, source):
        batch = process_batch(chunks or [(HEADER, 2)], rules=rules, financials=financials)
        assert OUT_HEADER + batch.body == merged.getvalue()
        assert list(batch.errors) == [error for result in results for error in result.errors]


@pytest.mark.parametrize(
    "body",
    [
        b"535113847,934,152.58,97.44,142509.72,91008.96,51500.76\n007,1,2,3,4,5,6\n7,,,,,,x",
        b'abc,"1,5",2,"a ""b""",4,5,6\n12345678X,1,2,3,4,5,6\n',
        b"1,2,3\n\n 9 , 2 ,3,4,5,6,7\r\n",
    ],
)
def test_index_gives_the_values_the_csv_source_gives(tmp_path: Path, body: bytes) -> None:
    fin = tmp_path / "fin.csv"
    fin.write_bytes(_FIN_HEADER + body)
    source = CsvFinancialSource.from_path(fin)
    index = FinancialIndex.from_path(fin)
    index.save(tmp_path / "index")
    loaded = FinancialIndex.load(tmp_path / "index")
    uuids = pl.Series(["535113847", "007", "7", "abc", "12345678X", "1", " 9 ", "nope", ""])
    frame = source.lookup_frame(uuids)
    lines = write_csv(frame, header=False).decode().splitlines()
    expected = [None if row[0] is None else line
                for line, row in zip(lines, frame.iter_rows(), strict=True)]  # fmt: skip
    assert expected.count(None) < len(expected)
    for candidate in (index, loaded):
        assert candidate.lookup_values(uuids).to_list() == expected


_uuid = st.from_regex(r"[0-9]{1,4}|x[0-9]", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(known=st.lists(_uuid, unique=True, max_size=40), asked=st.lists(_uuid, max_size=40))
def test_index_finds_uuids_asked_in_any_order_like_the_csv_source(
    tmp_path_factory: pytest.TempPathFactory, known: list[str], asked: list[str]
) -> None:
    fin = tmp_path_factory.mktemp("fin") / "fin.csv"
    body = "".join(f"{uuid},{n},{n}.5,1,2,3,4\n" for n, uuid in enumerate(known))
    fin.write_bytes(_FIN_HEADER + body.encode())
    uuids = pl.Series(asked + known[::-1], dtype=pl.String)  # unsorted, repeated, unknown
    frame = CsvFinancialSource.from_path(fin).lookup_frame(uuids)
    lines = write_csv(frame, header=False).decode().splitlines()
    expected = [None if row[0] is None else line
                for line, row in zip(lines, frame.iter_rows(), strict=True)]  # fmt: skip
    assert FinancialIndex.from_path(fin).lookup_values(uuids).to_list() == expected


def test_index_refuses_a_repeated_uuid_like_the_csv_source(tmp_path: Path) -> None:
    fin = tmp_path / "fin.csv"
    fin.write_bytes(_FIN_HEADER + b"9,1,1,1,1,1,1\n5,1,1,1,1,1,1\n9,2,2,2,2,2,2\n")
    with pytest.raises(InputFileError, match="uuid 9 appears more than once"):
        FinancialIndex.from_path(fin)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.text(st.characters(codec="utf-8"), max_size=6), min_size=1))
def test_csv_value_writes_what_polars_writes(values: list[str]) -> None:
    frame = pl.DataFrame({"a": values})
    expected = write_csv(frame, header=False)
    lines = frame.select(csv_value(pl.col("a")))
    buffer = io.BytesIO()
    lines.write_csv(buffer, include_header=False, line_terminator="\n", quote_style="never")
    assert buffer.getvalue() == expected
