"""Ways to break a sample row on purpose: one per rule of a schema, plus structural faults.

`mrbatch sample --invalid-kinds` uses these to make dirty data that is representative of
what users send, not only of what the pipeline was tuned on. A kind is either a schema
rule of the default schema (`<keyword>:<column>`, e.g. `maxLength:Country`, derived from
the schema file, so a rule added there gets its kind) or a structural fault:

| kind | what the row becomes | expected error rule |
|---|---|---|
| `short-row` | trailing fields missing | `fieldCount` |
| `long-row` | extra fields at the end | `fieldCount` |
| `bad-quote` | a quoted field followed by text (`"Cuba"x`) | `csv` |
| `embedded-newline` | a quoted order date, a line break in place of a character | `format` |
| `non-utf8` | a Latin-1 byte in the country | `encoding` |
| `no-financials` | a valid row whose uuid has no financial data | `enrichment` |

Each kind is a pure function of the row's fields and a `random.Random`, so a sample is
deterministic for a seed. A spoiled row is returned as text; bytes that are not UTF-8 are
lone surrogates (`\\udcf4`), written with `surrogateescape`.

Example:
    >>> import random
    >>> spoiled = spoil_row("maxLength:Order Priority", ["1", "2", "3", "4", "C", "6", "7", "8"],
    ...                     random.Random(0))
    >>> len(spoiled.fields[4]) > 5, set(spoiled.fields[4])
    (True, {'C'})
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mrbatch.errors import ConfigError
from mrbatch.pipeline.columns import read_schema

__all__ = [
    "STRUCTURAL_KINDS",
    "Spoiled",
    "expected_rule",
    "invalid_kinds",
    "parse_kinds",
    "spoil_row",
]

STRUCTURAL_KINDS = (
    "short-row", "long-row", "bad-quote", "embedded-newline", "non-utf8", "no-financials",
)  # fmt: skip
_STRUCTURAL_RULES = {
    "short-row": ("", "fieldCount"),
    "long-row": ("", "fieldCount"),
    "bad-quote": ("", "csv"),
    "embedded-newline": ("Order Date", "format"),
    "non-utf8": ("", "encoding"),
    "no-financials": ("uuid", "enrichment"),
}
# Keywords of a string property that a kind can break, in the order the pipeline checks them.
_KEYWORDS = ("minLength", "maxLength", "pattern", "format")
# Malformed month/day/year dates, each wrong in its own way.
_BAD_DATES = (
    "2/30/{y}", "4/31/{y}", "13/1/{y}", "0/12/{y}", "1/0/{y}", "1-2-{y}", "1/2/{y}0",
    "1/2/", "//", "1/2/{y}x", "Jan 2 {y}", "{y}",
)  # fmt: skip


@dataclass(frozen=True)
class Spoiled:
    """A spoiled row: its fields (joined with commas as they are) and whether its uuid
    keeps its financial data."""

    fields: list[str]
    has_finances: bool = True


def invalid_kinds() -> tuple[str, ...]:
    """Every kind: one per breakable rule of the default schema, then the structural ones."""
    schema, _ = read_schema(None)
    kinds = []
    for column, spec in schema["properties"].items():
        for keyword in _KEYWORDS:
            if keyword in spec and _breakable(keyword, spec[keyword]):
                kinds.append(f"{keyword}:{column}")
    return (*kinds, *STRUCTURAL_KINDS)


def _breakable(keyword: str, value: Any) -> bool:
    """Whether a row can break this rule (`minLength: 0` cannot be broken)."""
    return not (keyword == "minLength" and value == 0)


def parse_kinds(text: str) -> tuple[str, ...]:
    """Kinds from a comma-separated list; `all`, `schema` and `structural` name groups.

    Raises ConfigError naming an unknown kind and listing the known ones.
    """
    known = invalid_kinds()
    groups = {
        "all": known,
        "schema": tuple(kind for kind in known if kind not in STRUCTURAL_KINDS),
        "structural": STRUCTURAL_KINDS,
    }
    kinds: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if name in groups:
            kinds.extend(groups[name])
        elif name in known:
            kinds.append(name)
        else:
            shown = ", ".join([*groups, *known])
            raise ConfigError(f"unknown invalid kind {name!r}; known: {shown}")
    return tuple(dict.fromkeys(kinds))


def expected_rule(kind: str) -> tuple[str, str]:
    """The (field, rule) of the error record a row spoiled by `kind` gets."""
    if kind in _STRUCTURAL_RULES:
        return _STRUCTURAL_RULES[kind]
    keyword, column = kind.split(":", 1)
    return column, keyword


def spoil_row(kind: str, fields: Sequence[str], rng: random.Random) -> Spoiled:
    """Break `fields` (a valid row of the default schema's columns) in the way `kind` says."""
    row = list(fields)
    if kind in _STRUCTURAL:
        return _STRUCTURAL[kind](row, rng)
    keyword, column = kind.split(":", 1)
    schema, _ = _schema()
    position = list(schema["properties"]).index(column)
    row[position] = _BREAK[keyword](row[position], schema["properties"][column], rng)
    return Spoiled(row)


_SCHEMA: list[tuple[dict[str, Any], str]] = []


def _schema() -> tuple[dict[str, Any], str]:
    if not _SCHEMA:
        _SCHEMA.append(read_schema(None))
    return _SCHEMA[0]


def _too_short(value: str, spec: dict[str, Any], rng: random.Random) -> str:
    return value[: int(spec["minLength"]) - 1]


def _too_long(value: str, spec: dict[str, Any], rng: random.Random) -> str:
    """Longer than maxLength by 1 to 40 characters, made of the value's own characters."""
    length = int(spec["maxLength"]) + 1 + rng.randrange(40)
    return (value * (length // max(len(value), 1) + 1))[:length] if value else "x" * length


def _off_pattern(value: str, spec: dict[str, Any], rng: random.Random) -> str:
    """A letter in place of one character, or one character fewer (uuid: `^[0-9]{9}$`)."""
    if rng.random() < 0.5 and len(value) > 1:
        return value[:-1]
    at = rng.randrange(max(len(value), 1))
    return value[:at] + "ABCDEFXYZ"[rng.randrange(9)] + value[at + 1 :]


def _bad_date(value: str, spec: dict[str, Any], rng: random.Random) -> str:
    year = value.rsplit("/", 1)[-1]
    return _BAD_DATES[rng.randrange(len(_BAD_DATES))].format(y=year)


_BREAK: dict[str, Callable[[str, dict[str, Any], random.Random], str]] = {
    "minLength": _too_short,
    "maxLength": _too_long,
    "pattern": _off_pattern,
    "format": _bad_date,
}


def _short_row(row: list[str], rng: random.Random) -> Spoiled:
    return Spoiled(row[: 1 + rng.randrange(len(row) - 1)])


def _long_row(row: list[str], rng: random.Random) -> Spoiled:
    return Spoiled(row + row[-1 - rng.randrange(3) :])


def _bad_quote(row: list[str], rng: random.Random) -> Spoiled:
    row[1] = f'"{row[1]}"x'
    return Spoiled(row)


def _embedded_newline(row: list[str], rng: random.Random) -> Spoiled:
    """A line break in place of one character: the record spans two lines, and its length
    stays within maxLength, so the date's format is what fails."""
    at = rng.randrange(len(row[5]))
    row[5] = f'"{row[5][:at]}\n{row[5][at + 1 :]}"'
    return Spoiled(row)


def _non_utf8(row: list[str], rng: random.Random) -> Spoiled:
    at = rng.randrange(len(row[1]) + 1)
    row[1] = row[1][:at] + "\udcf4" + row[1][at:]  # the byte 0xF4 alone: never valid UTF-8
    return Spoiled(row)


def _no_financials(row: list[str], rng: random.Random) -> Spoiled:
    return Spoiled(row, has_finances=False)


_STRUCTURAL: dict[str, Callable[[list[str], random.Random], Spoiled]] = {
    "short-row": _short_row,
    "long-row": _long_row,
    "bad-quote": _bad_quote,
    "embedded-newline": _embedded_newline,
    "non-utf8": _non_utf8,
    "no-financials": _no_financials,
}
