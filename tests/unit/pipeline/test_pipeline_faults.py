"""`mrbatch sample --invalid-kinds`: every rule of the default schema and every structural
fault can be asked for, each row breaks in the way its kind says, a seed fixes the bytes."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrbatch.cli.app import app
from mrbatch.errors import ConfigError
from mrbatch.pipeline import CsvFinancialSource, load_rules, process_chunk
from mrbatch.pipeline.faults import (
    STRUCTURAL_KINDS,
    expected_rule,
    invalid_kinds,
    parse_kinds,
)
from mrbatch.pipeline.sample import write_sample

runner = CliRunner()


def _sample(rows: int, seed: int, fraction: float, kinds: tuple[str, ...]) -> tuple[bytes, bytes]:
    data, fin = io.BytesIO(), io.BytesIO()
    write_sample(data, fin, rows=rows, seed=seed, invalid_fraction=fraction, kinds=kinds)
    return data.getvalue(), fin.getvalue()


def test_kinds_cover_every_rule_of_the_default_schema() -> None:
    checked = {(check.field, check.rule) for check in load_rules().checks}
    schema_kinds = [kind for kind in invalid_kinds() if kind not in STRUCTURAL_KINDS]
    assert {expected_rule(kind) for kind in schema_kinds} == checked
    assert len(schema_kinds) == len(checked) == 16


@pytest.mark.parametrize("kind", invalid_kinds())
def test_each_kind_breaks_every_row_it_spoils_in_its_own_way(kind: str) -> None:
    data, fin = _sample(300, 11, 1.0, (kind,))
    result = process_chunk(data, rules=load_rules(),
                           financials=CsvFinancialSource.from_bytes(fin, file="f"))  # fmt: skip
    assert result.rows_read == 300 and result.rows_written == 0
    assert {(error.field, error.rule) for error in result.errors} == {expected_rule(kind)}
    assert len(result.errors) == 300


def test_mixed_kinds_are_deterministic_for_a_seed_and_differ_between_seeds() -> None:
    kinds = parse_kinds("all")
    first, first_fin = _sample(2000, 4, 0.2, kinds)
    again, again_fin = _sample(2000, 4, 0.2, kinds)
    other, _ = _sample(2000, 5, 0.2, kinds)
    assert (first, first_fin) == (again, again_fin)
    assert first != other
    source = CsvFinancialSource.from_bytes(first_fin, file="f")
    result = process_chunk(first, rules=load_rules(), financials=source)
    rules = {error.rule for error in result.errors}
    assert rules == {"minLength", "maxLength", "pattern", "format", "fieldCount", "csv",
                     "encoding", "enrichment"}  # fmt: skip
    assert 300 < len(result.errors) < 500


def test_without_kinds_the_sample_keeps_its_bytes() -> None:
    # The five original kinds, as before --invalid-kinds existed (bytes of seed 5 pinned by
    # their digest, so adding kinds cannot change an existing sample).
    data, _ = _sample(3000, 5, 0.05, ())
    assert hashlib.sha256(data).hexdigest()[:16] == _PINNED_DATA
    assert b"Republic of Republic of" in data


_PINNED_DATA = "32a7a361a3d8e472"  # the digest before --invalid-kinds existed


def test_group_names_expand_and_unknown_kinds_are_refused() -> None:
    assert parse_kinds("structural") == STRUCTURAL_KINDS
    assert parse_kinds("schema,non-utf8")[-1] == "non-utf8"
    assert parse_kinds("maxLength:Country,maxLength:Country") == ("maxLength:Country",)
    with pytest.raises(ConfigError, match="unknown invalid kind 'maxLength:Nope'"):
        parse_kinds("maxLength:Nope")


def test_sample_cli_takes_invalid_kinds(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", "--rows", "400", "--seed", "2", "--invalid-fraction",
                                 "1", "--invalid-kinds", "non-utf8,bad-quote", "--out",
                                 str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = (tmp_path / "testfile.csv").read_bytes()
    assert data.count(b"\xf4") + data.count(b'"x,') == 400
    refused = runner.invoke(app, ["sample", "--invalid-kinds", "nope", "--out", str(tmp_path)])
    assert refused.exit_code == 1
