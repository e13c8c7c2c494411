"""split, count_records, read_header, chunk_name, merge of raw chunks."""

from __future__ import annotations

import io

import pytest

from mrbatch.errors import InputFileError
from mrbatch.pipeline import (
    Chunk,
    chunk_count,
    chunk_name,
    count_records,
    merge,
    read_header,
    split,
)


def _split(data: bytes, size: int = 2, **kwargs: object) -> list[Chunk]:
    return list(split(io.BytesIO(data), chunk_size=size, file="in.csv", **kwargs))  # type: ignore[arg-type]


def test_split_cuts_records_and_repeats_header() -> None:
    chunks = _split(b"h\n1\n2\n3\n4\n5\n")
    assert [(c.index, c.first_row, c.records, c.data) for c in chunks] == [
        (1, 2, 2, b"h\n1\n2\n"),
        (2, 4, 2, b"h\n3\n4\n"),
        (3, 6, 1, b"h\n5\n"),
    ]


def test_split_keeps_quoted_delimiters_quotes_and_newlines_inside_a_record() -> None:
    data = b'a,b\n"x,\ny",1\n"q""\n""",2\n3,4\n'
    chunks = _split(data, size=1)
    assert [c.data for c in chunks] == [
        b'a,b\n"x,\ny",1\n',
        b'a,b\n"q""\n""",2\n',
        b"a,b\n3,4\n",
    ]
    assert [c.first_row for c in chunks] == [2, 3, 4]


def test_split_strips_bom_and_keeps_crlf() -> None:
    chunks = _split(b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4", size=1)
    assert [c.data for c in chunks] == [b"a,b\r\n1,2\r\n", b"a,b\r\n3,4"]


def test_split_header_only_gives_zero_chunks() -> None:
    assert _split(b"a,b\n") == []
    assert _split(b"a,b") == []


def test_split_empty_file_fails_naming_the_file() -> None:
    with pytest.raises(InputFileError, match=r"^in.csv: the file is empty \(0 bytes\)$"):
        _split(b"")


def test_split_unterminated_quote_fails_with_its_row() -> None:
    with pytest.raises(InputFileError, match=r"^in.csv: row 3: a quoted field is never closed"):
        _split(b'a\n1\n"2\n3\n4\n', size=10)


def test_split_record_over_the_limit_fails() -> None:
    data = b"a\n" + b"x" * 100 + b"\n"
    with pytest.raises(InputFileError, match=r"^in.csv: row 2: a record is longer than"):
        _split(data, max_record_bytes=50)


def test_split_reads_across_block_boundaries() -> None:
    rows = [f"{i},{'v' * (i % 97)}".encode() for i in range(30_000)]
    data = b"id,v\n" + b"\n".join(rows) + b"\n"
    chunks = _split(data, size=7_000)
    assert [c.records for c in chunks] == [7000, 7000, 7000, 7000, 2000]
    assert b"".join(c.data.removeprefix(b"id,v\n") for c in chunks) == data.removeprefix(b"id,v\n")


def test_count_records_counts_data_records() -> None:
    assert count_records(io.BytesIO(b'a\n"1\n2"\n3'), file="f") == 2
    assert count_records(io.BytesIO(b"a\n"), file="f") == 0


def test_chunk_names_sort_in_order() -> None:
    assert chunk_name(1, 10) == "part-00001-of-00010.csv"
    assert chunk_name(7, 123456) == "part-000007-of-123456.csv"
    names = [chunk_name(i, 12) for i in range(1, 13)]
    assert names == sorted(names)
    assert chunk_count(2001, 1000) == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "the header is not UTF-8 text"),
        (b"PK\x03\x04\x00\x00\n", "not a CSV file (NUL byte in the header)"),
        (b"a,\xff\n", "the header is not UTF-8 text"),
        (b"a,a\n", "duplicate header columns: a"),
        (b"a,,b\n", "the header has an empty column name"),
        (b"\n1\n", "the header row is empty"),
    ],
)
def test_read_header_refuses_bad_headers(data: bytes, reason: str) -> None:
    with pytest.raises(InputFileError) as caught:
        read_header(io.BytesIO(data), file="in.csv")
    assert str(caught.value) == f"in.csv: {reason}"


def test_merge_of_raw_chunks_gives_the_input_back() -> None:
    data = b'a,b\n"x\ny",1\n2,3\n4,5'
    out = io.BytesIO()
    merge([io.BytesIO(c.data) for c in _split(data, size=1)], out, header=b"a,b\n")
    assert out.getvalue() == data


def test_merge_of_nothing_writes_the_header() -> None:
    out = io.BytesIO()
    merge([], out, header=b"a,b\n")
    assert out.getvalue() == b"a,b\n"
