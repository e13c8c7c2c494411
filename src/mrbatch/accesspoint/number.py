"""The one strict reader of numbers that arrive on the wire (query parameters, headers, XML,
aws-chunked size lines).

Python's own tools are too lenient for untrusted input: `str.isdigit` is true for `²`, which
`int` then refuses with a ValueError (a 500 if nobody catches it); `int` accepts other
scripts' digits (`٣`), signs, spaces, underscores and, in base 16, a `0x` prefix; and it
raises past 4,300 digits. S3 reads none of those as a number. Here a number is ASCII digits
only, its value is bounded before `int` ever sees it (leading zeros dropped, then at most as
many digits as the upper bound has), and every refusal is a ValueError the caller turns into
the S3 error of its entry point.

>>> parse_decimal("0042", high=10_000)
42
>>> clamp_decimal("9" * 5000, high=2**63 - 1) == 2**63 - 1
True
"""

from __future__ import annotations

__all__ = ["INT32_MAX", "clamp_decimal", "parse_decimal", "parse_hex"]

INT32_MAX = 2**31 - 1  # S3's bound for counts such as max-keys ("within integer range")

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_SHOWN = 24


def _shown(text: str) -> str:
    """`text` for an error message, cut short (a crafted number may be thousands long)."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _significant_decimal(text: str) -> str:
    """The digits of `text` without leading zeros ("0" for zero). Raises ValueError unless
    `text` is one or more ASCII digits."""
    if not (text.isascii() and text.isdigit()):  # "" is not a digit; ASCII digits are 0-9
        raise ValueError(f"{_shown(text)} is not a decimal number")
    return text.lstrip("0") or "0"


def parse_decimal(text: str, *, low: int = 0, high: int) -> int:
    """The value of the decimal digits `text`, which must lie in [`low`, `high`] (`high` >= 0).

    Raises ValueError when `text` is not ASCII digits or its value is out of range.

    >>> parse_decimal("10001", low=1, high=10_000)
    Traceback (most recent call last):
    ValueError: '10001' is not from 1 to 10000
    """
    digits = _significant_decimal(text)
    if len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise ValueError(f"{_shown(text)} is not from {low} to {high}")
    return int(digits)


def clamp_decimal(text: str, *, high: int) -> int:
    """The value of the decimal digits `text`, or `high` if it is larger (for a byte position,
    where any number past the object's size means the same thing).

    Raises ValueError when `text` is not ASCII digits.
    """
    digits = _significant_decimal(text)
    if len(digits) > len(str(high)):
        return high
    return min(int(digits), high)


def parse_hex(text: str, *, high: int) -> int:
    """The value of the hexadecimal digits `text` (no sign, prefix, space or underscore),
    at most `high`. Raises ValueError otherwise."""
    if not text or not _HEX_DIGITS.issuperset(text):
        raise ValueError(f"{_shown(text)} is not a hexadecimal number")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(f"{high:x}") or int(digits, 16) > high:
        raise ValueError(f"{_shown(text)} is more than {high:#x}")
    return int(digits, 16)
