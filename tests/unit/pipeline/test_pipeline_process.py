"""process_chunk: validation, enrichment, row errors, fidelity, both parse paths."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from mrbatch.errors import ConfigError, InputFileError
from mrbatch.model import ErrorRecord
from mrbatch.pipeline import (
    CsvFinancialSource,
    FinancialRecord,
    Rules,
    compile_rules,
    is_mdy_date,
    load_rules,
    process_chunk,
)
from mrbatch.pipeline.process import process_chunks
from mrbatch.pipeline.rules import mdy_date_fails

from .pipeline_samples import FIN_A, FIN_B, HEADER, OUT_HEADER, ROW_A, ROW_B


def _run(body: bytes, rules: Rules, financials: CsvFinancialSource, header: bytes = HEADER):
    return process_chunk(header + body, rules=rules, financials=financials, file="in.csv")


def test_valid_rows_are_enriched_in_input_order(rules, financials) -> None:
    result = _run(ROW_B + b"\n" + ROW_A + b"\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_B + FIN_B + b"\n" + ROW_A + FIN_A + b"\n"
    assert (result.rows_read, result.rows_written, result.rows_invalid) == (2, 2, 0)
    assert result.errors == ()


def test_crlf_bom_and_missing_final_newline_give_the_same_output(rules, financials) -> None:
    plain = _run(ROW_A + b"\n" + ROW_B + b"\n", rules, financials)
    windows = process_chunk(
        b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + ROW_A + b"\r\n" + ROW_B,
        rules=rules, financials=financials, file="in.csv",
    )  # fmt: skip
    assert windows == plain


def test_quoted_values_are_copied_exactly(rules, financials) -> None:
    row = b'535113847,"Azer, ""baijan""",Snacks,Online,C,10/8/14,"Middle\nEast",10/23/14\n'
    result = _run(row, rules, financials)
    expected = b'535113847,"Azer, ""baijan""",Snacks,Online,C,10/8/14,"Middle\nEast",10/23/14'
    assert result.output == OUT_HEADER + expected + FIN_A + b"\n"


def test_unneeded_quotes_are_dropped_but_values_kept(rules, financials) -> None:
    row = b'"535113847","Azerbaijan",Snacks,Online,C,10/8/14," Middle East ",10/23/14\n'
    result = _run(row, rules, financials)
    assert result.output == (
        OUT_HEADER + b"535113847,Azerbaijan,Snacks,Online,C,10/8/14, Middle East ,10/23/14"
        + FIN_A + b"\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("row", "field", "rule", "message"),
    [
        (b"53511384X,A,B,C,D,1/1/15,E,1/2/15", "uuid", "pattern",
         "uuid does not match the pattern ^[0-9]{9}$"),
        (b"5351138470,A,B,C,D,1/1/15,E,1/2/15", "uuid", "maxLength",
         "uuid is longer than 9 characters"),
        (b"535113847," + b"x" * 51 + b",B,C,D,1/1/15,E,1/2/15", "Country", "maxLength",
         "Country is longer than 50 characters"),
        (b"535113847,,B,C,D,1/1/15,E,1/2/15", "Country", "minLength",
         "Country is shorter than 1 characters"),
        (b"535113847,A,B,C,D,2/30/15,E,1/2/15", "Order Date", "format",
         "Order Date is not a month/day/year date"),
        (b"535113847,A,B,C,D,1/1/15,E,2015-01-02", "Ship Date", "format",
         "Ship Date is not a month/day/year date"),
        (b"535113847,A,B,C,DDDDDD,1/1/15,E,1/2/15", "Order Priority", "maxLength",
         "Order Priority is longer than 5 characters"),
    ],
)  # fmt: skip
def test_invalid_values_give_one_error_record(rules, financials, row, field, rule, message) -> None:
    result = _run(ROW_A + b"\n" + row + b"\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"
    assert result.errors == (ErrorRecord("in.csv", 3, field, rule, message, row.decode()),)
    assert (result.rows_read, result.rows_written, result.rows_invalid) == (2, 1, 1)


def test_first_failing_check_in_schema_order_is_reported(rules, financials) -> None:
    row = b"12345678X,,B,C,D,1/1/15,E,1/2/15"
    assert _run(row, rules, financials).errors[0].field == "uuid"


@pytest.mark.parametrize(
    ("row", "rule", "message"),
    [
        (b"535113847,A,B,C,1/1/15,E,1/2/15", "fieldCount", "expected 8 fields, found 7"),
        (b"535113847,A,B,C,D,1/1/15,E,1/2/15,X", "fieldCount", "expected 8 fields, found 9"),
        (b"535113847,\xff,B,C,D,1/1/15,E,1/2/15", "encoding", "byte 11 of the row is not UTF-8"),
        (b'535113847,"A"x,B,C,D,1/1/15,E,1/2/15', "csv",
         "not a valid CSV row (',' expected after '\"')"),
    ],
)  # fmt: skip
def test_malformed_rows_are_errors_and_the_rest_goes_on(rules, financials, row, rule, message):
    result = _run(row + b"\n" + ROW_B + b"\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_B + FIN_B + b"\n"
    raw = row.decode("utf-8", "backslashreplace")
    assert result.errors == (ErrorRecord("in.csv", 2, "", rule, message, raw),)


def test_field_over_one_mib_is_a_row_error(rules, financials) -> None:
    row = b"535113847," + b"x" * (1024 * 1024 + 1) + b",B,C,D,1/1/15,E,1/2/15"
    result = _run(row + b"\n" + ROW_A + b"\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"
    assert [(e.row, e.rule, e.message) for e in result.errors] == [
        (2, "maxFieldBytes", "a field is larger than 1 MiB")
    ]


def test_unknown_uuid_is_a_not_enriched_error(rules, financials) -> None:
    row = b"111111111,A,B,C,D,1/1/15,E,1/2/15"
    result = _run(ROW_A + b"\n" + row + b"\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"
    assert result.errors == (
        ErrorRecord("in.csv", 3, "uuid", "enrichment", "no financial data for uuid 111111111",
                    row.decode()),
    )  # fmt: skip
    assert (result.rows_invalid, result.rows_not_enriched) == (0, 1)


def test_blank_lines_are_skipped_but_counted_in_row_numbers(rules, financials) -> None:
    result = _run(b"\n" + ROW_A + b"\n\nbad\n", rules, financials)
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"
    assert [(e.row, e.rule) for e in result.errors] == [(5, "fieldCount")]
    assert result.rows_read == 2


def test_header_only_chunk_gives_header_only_output(rules, financials) -> None:
    result = _run(b"", rules, financials)
    assert (result.output, result.errors, result.rows_read) == (OUT_HEADER, (), 0)


def test_missing_header_column_fails_the_file(rules, financials) -> None:
    header = HEADER.replace(b"Region,", b"")
    with pytest.raises(InputFileError, match=r"^in.csv: the header lacks the column\(s\): Region"):
        _run(b"", rules, financials, header=header)


def test_row_numbers_come_from_first_row(rules, financials) -> None:
    result = process_chunk(
        HEADER + ROW_A + b"\nbad\n", rules=rules, financials=financials, first_row=1001
    )
    assert result.errors[0].row == 1002


def test_other_delimiter(rules, financials) -> None:
    data = (HEADER + ROW_A + b"\n").replace(b",", b";")
    result = process_chunk(data, rules=rules, financials=financials, delimiter=";")
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"


def test_batch_equals_one_by_one(rules, financials) -> None:
    chunks = [
        (HEADER + ROW_A + b"\nbad\n", 2),
        (HEADER + b'"874708545",Panama,Cosmetics,Offline,L,2/22/15,x,2/27/15\n', 4),
        (HEADER + b"111111111,A,B,C,D,1/1/15,E,1/2/15\n", 5),
    ]
    alone = [process_chunk(d, rules=rules, financials=financials, first_row=r) for d, r in chunks]
    assert process_chunks(chunks, rules=rules, financials=financials) == alone


class _DictSource:
    """A FinancialSource that is only a mapping (the shape an HTTP client would have)."""

    def lookup(self, uuids):
        known = {"535113847": FinancialRecord("1", "2", "3", "4", "5", "6")}
        return {u: known[u] for u in uuids if u in known}


def test_a_plain_financial_source_works(rules) -> None:
    result = _run(ROW_A + b"\n" + ROW_B + b"\n", rules, _DictSource())
    assert result.output == OUT_HEADER + ROW_A + b",1,2,3,4,5,6\n"
    assert [e.rule for e in result.errors] == ["enrichment"]


def test_residual_keywords_are_validated_per_row(financials) -> None:
    schema = json.loads(
        (Path(__file__).parents[3] / "src/mrbatch/pipeline/default_schema.json").read_text()
    )
    schema["properties"]["Sales Channel"]["not"] = {"const": "Offline"}
    custom = compile_rules(schema)
    assert custom.residual
    result = _run(ROW_A + b"\n" + ROW_B + b"\n", custom, financials)
    assert result.output == OUT_HEADER + ROW_A + FIN_A + b"\n"
    assert [(e.row, e.field, e.rule) for e in result.errors] == [(3, "Sales Channel", "not")]


def test_enum_rule_and_closed_schema(financials) -> None:
    rules = compile_rules({
        "type": "object", "required": ["uuid"], "additionalProperties": False,
        "properties": {"uuid": {"enum": ["535113847"]}, "x": {"type": "string"}},
    })  # fmt: skip
    with pytest.raises(InputFileError, match="unexpected header column"):
        _run(b"", rules, financials)
    result = process_chunk(b"uuid,x\n535113847,1\n874708545,2\n", rules=rules,
                           financials=financials)  # fmt: skip
    assert result.output.splitlines()[1] == b"535113847,1" + FIN_A
    assert [(e.row, e.rule, e.message) for e in result.errors] == [
        (3, "enum", "uuid is not one of: 535113847")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not JSON"), ("[]", "must be a JSON object"),
     ('{"type": "array"}', "must describe an object"),
     ('{"properties": 3}', "not a valid draft 7 schema")],
)  # fmt: skip
def test_bad_schema_files_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(path)


def test_date_check_vectorised_agrees_with_python() -> None:
    values = [
        f"{m}/{d}/{y}"
        for m in ["0", "1", "2", "02", "12", "13", "4", "00"]
        for d in ["0", "1", "28", "29", "30", "31", "32", "09"]
        for y in ["00", "15", "16", "99", "1900", "2000", "2015", "1", "123"]
    ] + ["", "x", " 1/2/15", "1/2/15 ", "1//15", "+1/2/15"]
    fails = pl.DataFrame({"v": values}).select(mdy_date_fails(pl.col("v")))["v"].to_list()
    assert fails == [not is_mdy_date(v) for v in values]
    assert is_mdy_date("2/29/16") and not is_mdy_date("2/29/15") and not is_mdy_date("4/31/16")


def test_financial_file_problems_name_the_file() -> None:
    with pytest.raises(InputFileError, match=r"^fin.csv: the header must be uuid,unitsSold"):
        CsvFinancialSource.from_bytes(b"uuid,x\n1,2\n", file="fin.csv")
    with pytest.raises(InputFileError, match=r"^fin.csv: uuid 1 appears more than once"):
        CsvFinancialSource.from_bytes(
            b"uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n"
            b"1,1,1,1,1,1,1\n1,2,2,2,2,2,2\n", file="fin.csv")  # fmt: skip
    with pytest.raises(InputFileError, match=r"^fin.csv: the file is empty"):
        CsvFinancialSource.from_bytes(b"", file="fin.csv")
