"""Deterministic names, checked against values written out by hand (not recomputed with
the function under test): the execution name must change with the file version and with
the epoch, and outputs are stored per file version."""

from __future__ import annotations

import pytest

from mrbatch.handlers import naming

# sha256("input/a.csv#v1")[:16] and sha256("input/a.csv#v2")[:16], computed once by hand
DIGEST_V1, DIGEST_V2 = "7e543a57185a8ba8", "cf593703a5845f00"


def test_execution_name_is_stem_version_digest_and_epoch() -> None:
    assert naming.execution_name("input/a.csv", "v1", 1) == f"a-csv-{DIGEST_V1}-e1"


def test_execution_name_differs_for_a_new_version_of_the_same_key() -> None:
    assert naming.execution_name("input/a.csv", "v2", 1) == f"a-csv-{DIGEST_V2}-e1"


def test_execution_name_differs_after_failover_and_failback() -> None:
    # started in A under epoch 1, failed over to B (epoch 2), back to A (epoch 3)
    names = [naming.execution_name("input/a.csv", "v1", epoch) for epoch in (1, 2, 3)]
    assert names == [f"a-csv-{DIGEST_V1}-e1", f"a-csv-{DIGEST_V1}-e2", f"a-csv-{DIGEST_V1}-e3"]


def test_execution_name_fits_step_functions_limits() -> None:
    name = naming.execution_name("input/" + "é x/" * 40 + "f.csv", "v1", 12345)
    assert len(name) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)


def test_outputs_are_stored_per_file_version() -> None:
    assert naming.output_key("input/dir/a.csv", "v1") == "output/completed/v1/dir/a.csv"
    assert naming.errors_key("input/dir/a.csv", "v2") == "output/errors/v2/dir/a.csv"


@pytest.mark.parametrize(
    ("key", "suffixes", "expected"),
    [
        ("input/a.csv", (".csv",), True),
        ("input/A.CSV", (".csv",), True),
        ("input/a.csv.txt", (".csv",), False),
        ("input/a.txt", (".csv",), False),
        ("input/a.txt", (".csv", ".txt"), True),
        ("input/a.txt", (), True),
        ("output/a.csv", (".csv",), False),
        ("inputs/a.csv", (), False),
    ],
)
def test_is_input_needs_the_prefix_and_a_suffix(
    key: str, suffixes: tuple[str, ...], expected: bool
) -> None:
    assert naming.is_input(key, suffixes) is expected


def test_execution_name_trims_separators_from_the_ends_of_its_stem() -> None:
    # sha256("input/-a b.csv#v7")[:16], computed with sha256sum
    assert naming.execution_name("input/-a b.csv", "v7", 2) == "a-b-csv-c212dab337ec1aa4-e2"


def test_execution_name_keeps_forty_characters_of_a_long_stem() -> None:
    key = "input/" + "x" * 50 + ".csv"  # sha256(key + "#v1")[:16], computed with sha256sum
    assert naming.execution_name(key, "v1", 1) == "x" * 40 + "-2cf527247b40772b-e1"


def test_execution_name_of_a_key_with_no_safe_character_is_named_file() -> None:
    # sha256("input/ü#v1")[:16], computed with sha256sum
    assert naming.execution_name("input/ü", "v1", 1) == "file-77f56c2522f40e37-e1"


def test_intermediate_objects_live_under_the_versions_work_prefix() -> None:
    assert naming.work_prefix("v1") == "work/v1/"
    assert naming.chunk_key("v1", "0001.csv") == "work/v1/chunks/0001.csv"
    assert naming.processed_key("v1", "0001.csv") == "work/v1/processed/0001.csv"
    assert naming.errors_part_key("v1", "0001.csv") == "work/v1/errors/0001.csv"


def test_file_id_and_relative_name_as_written() -> None:
    assert naming.file_id("input/dir/a.csv", "v1") == "input/dir/a.csv#v1"
    assert naming.relative_name("input/dir/a.csv") == "dir/a.csv"


def test_is_input_compares_configured_suffixes_without_case() -> None:
    assert naming.is_input("input/a.csv", (".CSV",)) is True


def test_execution_name_keeps_every_letter_at_the_ends_of_its_stem() -> None:
    # only separators are trimmed; sha256("input/XREF.CSV#v1")[:16], computed with sha256sum
    assert naming.execution_name("input/XREF.CSV", "v1", 1) == "XREF-CSV-507dc979b8b51a3c-e1"
