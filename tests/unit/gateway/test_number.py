"""The strict wire-number reader, against values written out by hand."""

from __future__ import annotations

import pytest

from mrbatch.accesspoint.number import clamp_decimal, parse_decimal, parse_hex

HUGE = "9" * 5000  # past Python's 4,300-digit limit for int()


def _short(value: object) -> str:
    """A test id that a 5,000-digit value does not drown."""
    return str(value)[:16]


NOT_DECIMAL = ["", "²", "٣", "-1", "+1", " 1", "1 ", "1_0", "0x1", "1.0", "1e3", "１"]


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("7", 7), ("0042", 42), ("10000", 10000)], ids=_short
)
def test_parse_decimal_reads_ascii_digits(text: str, value: int) -> None:
    assert parse_decimal(text, high=10_000) == value


@pytest.mark.parametrize("text", NOT_DECIMAL, ids=_short)
def test_parse_decimal_refuses_what_is_not_ascii_digits(text: str) -> None:
    with pytest.raises(ValueError, match="is not a decimal number"):
        parse_decimal(text, high=10_000)


@pytest.mark.parametrize("text", ["0", "10001", HUGE, "0" * 5000 + "10001"], ids=_short)
def test_parse_decimal_refuses_values_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="is not from 1 to 10000"):
        parse_decimal(text, low=1, high=10_000)


def test_parse_decimal_reads_leading_zeros_of_any_length() -> None:
    assert parse_decimal("0" * 5000 + "12", high=100) == 12


def test_error_message_is_short_for_a_long_number() -> None:
    with pytest.raises(ValueError) as caught:
        parse_decimal(HUGE, high=10)
    assert len(str(caught.value)) < 80


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("99", 99), ("100", 100), ("101", 100), (HUGE, 100)], ids=_short
)
def test_clamp_decimal_caps_at_high(text: str, value: int) -> None:
    assert clamp_decimal(text, high=100) == value


@pytest.mark.parametrize("text", NOT_DECIMAL, ids=_short)
def test_clamp_decimal_refuses_what_is_not_ascii_digits(text: str) -> None:
    with pytest.raises(ValueError, match="is not a decimal number"):
        clamp_decimal(text, high=100)


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("a", 10), ("FF", 255), ("0010000", 65536)], ids=_short
)
def test_parse_hex_reads_hex_digits(text: str, value: int) -> None:
    assert parse_hex(text, high=2**20) == value


@pytest.mark.parametrize("text", ["", "-5", " 5", "5 ", "0x5", "5_0", "٥", "g"], ids=_short)
def test_parse_hex_refuses_signs_spaces_prefixes_and_other_scripts(text: str) -> None:
    with pytest.raises(ValueError, match="is not a hexadecimal number"):
        parse_hex(text, high=2**20)


@pytest.mark.parametrize("text", ["100001", "f" * 5000], ids=_short)
def test_parse_hex_refuses_values_over_high(text: str) -> None:
    with pytest.raises(ValueError, match="is more than 0x100000"):
        parse_hex(text, high=2**20)
