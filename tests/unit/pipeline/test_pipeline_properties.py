"""Property tests: split then merge gives any valid CSV back; output is independent of the
chunk size and of how chunks are batched; the two parse paths agree."""

from __future__ import annotations

import csv
import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mrbatch.errors import InputFileError
from mrbatch.pipeline import merge, process_chunk, split
from mrbatch.pipeline.parse import parse_chunks
from mrbatch.pipeline.process import process_chunks

from .pipeline_samples import HEADER, OUT_HEADER

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@st.composite
def _csv(draw: st.DrawFn) -> bytes:
    columns = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(_text, min_size=columns, max_size=columns), max_size=30))
    header = [f"c{i}" for i in range(columns)]
    buffer = io.StringIO()
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    csv.writer(buffer, lineterminator=ending).writerows([header, *rows])
    data = buffer.getvalue()
    if draw(st.booleans()) and rows:
        data = data.removesuffix(ending)
    return data.encode()


@settings(max_examples=150, deadline=None)
@given(data=_csv(), size=st.integers(1, 7))
def test_split_then_merge_reproduces_the_file(data: bytes, size: int) -> None:
    chunks = list(split(io.BytesIO(data), chunk_size=size))
    out = io.BytesIO()
    header = data[: data.index(b"\n") + 1] if b"\n" in data else data
    merge([io.BytesIO(chunk.data) for chunk in chunks], out, header=header)
    assert out.getvalue() == data
    for chunk in chunks:
        assert chunk.data.startswith(chunks[0].data[: len(header)])


_value = st.one_of(
    st.sampled_from(["535113847", "874708545", "854349935", "111111111", "12345678X", ""]),
    st.sampled_from(["1/2/15", "2/29/16", "2/30/15", "12/31/2015", "x"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=8),
    st.text(alphabet='a,"\n ', max_size=5),
)


@st.composite
def _orders(draw: st.DrawFn) -> bytes:
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        width = draw(st.sampled_from([8, 8, 8, 8, 7, 9]))
        rows.append([draw(_value) for _ in range(width)])
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    csv.writer(buffer, lineterminator="\n", quoting=quoting).writerows(rows)
    return HEADER + buffer.getvalue().encode()


def _process(data: bytes, size: int, batch: int, rules, financials) -> tuple[bytes, list]:
    chunks = list(split(io.BytesIO(data), chunk_size=size))
    results = []
    for start in range(0, len(chunks), batch):
        group = [(c.data, c.first_row) for c in chunks[start : start + batch]]
        results.extend(process_chunks(group, rules=rules, financials=financials))
    out = io.BytesIO()
    merge([io.BytesIO(r.output) for r in results], out, header=OUT_HEADER)
    return out.getvalue(), [e for r in results for e in r.errors]


@settings(max_examples=120, deadline=None)
@given(data=_orders(), size=st.integers(1, 9), batch=st.integers(1, 4))
def test_output_is_the_same_for_any_chunk_size_and_batching(
    data: bytes, size: int, batch: int, rules, financials
) -> None:
    whole = process_chunk(data, rules=rules, financials=financials)
    output, errors = _process(data, size, batch, rules, financials)
    assert output == whole.output
    assert errors == list(whole.errors)


@settings(max_examples=120, deadline=None)
@given(data=_orders())
def test_fast_and_careful_parsing_agree(data: bytes, rules, financials) -> None:
    fast = process_chunk(data, rules=rules, financials=financials)
    # A quoted header forces the careful path for the whole chunk; the values are the same.
    quoted = b'"uuid"' + data[len(b"uuid") :]
    careful = process_chunk(quoted, rules=rules, financials=financials)
    assert careful.output == fast.output
    assert careful.errors == fast.errors


_DIRT = [b"\xf4", b"\xc3", b"\r", b"\r\n", b'"', b'""', b"\n", b'"\n"']


def _outcome(data: bytes, rules, financials) -> object:
    try:
        result = process_chunk(data, rules=rules, financials=financials, first_row=7)
    except InputFileError as exc:
        return str(exc)
    return result.output, result.errors, result.rows_read, result.rows_invalid


@settings(max_examples=200, deadline=None)
@given(
    data=_orders(),
    dirt=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(_DIRT)), max_size=6),
)
def test_dirty_records_alone_take_the_careful_way_with_the_same_result(
    data: bytes, dirt: list[tuple[int, bytes]], rules, financials
) -> None:
    body = data[len(HEADER) :]
    for at, piece in dirt:
        at = at % (len(body) + 1)
        body = body[:at] + piece + body[at:]
    mixed = _outcome(HEADER + body, rules, financials)
    careful = _outcome(b'"uuid"' + HEADER[len(b"uuid") :] + body, rules, financials)
    assert mixed == careful


_field = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters='"\r\n'), max_size=5),
    st.sampled_from(["\ufeffx", "a\x00b", "#", " ", ""]),  # a BOM, a NUL, a comment sign
)


@st.composite
def _lines(draw: st.DrawFn) -> tuple[str, bytes]:
    """Quote-free lines of any width (0: a blank line) around a header of 1-4 columns."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", "é"]))
    columns = draw(st.integers(1, 4))
    lines = [delimiter.join(f"c{i}" for i in range(columns))]
    for _ in range(draw(st.integers(0, 20))):
        width = draw(st.integers(0, columns + 2))
        lines.append(delimiter.join(draw(_field) for _ in range(width)))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + (ending if draw(st.booleans()) else "")
    return delimiter, text.encode()


@settings(max_examples=300, deadline=None)
@given(lines=_lines())
@example(lines=(",", b"c0,c1\n\xef\xbb\xbfx,y\n"))  # a first line that starts with a BOM
@example(lines=(",", b"c0,c1\na\x00b,y\nc,d"))  # a NUL byte
@example(lines=(",", b"c0,c1\n\nx\na,b,c\n\n,\n"))  # blank, short, long, empty values
def test_fast_and_careful_parsing_agree_on_any_delimiter_and_line_shape(
    lines: tuple[str, bytes],
) -> None:
    delimiter, data = lines
    fast = parse_chunks([(data, 5)], file="f.csv", delimiter=delimiter)
    # A quoted header sends the whole chunk the careful way.
    careful = parse_chunks([(b'"c0"' + data[2:], 5)], file="f.csv", delimiter=delimiter)
    assert fast.columns == careful.columns
    assert fast.frame.to_dicts() == careful.frame.to_dicts()
    assert fast.frame.schema == careful.frame.schema
    assert (fast.errors, fast.records) == (careful.errors, careful.records)
