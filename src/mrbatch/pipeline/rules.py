"""Rules: a JSON Schema (draft 7) applied to each record, keyed by column names.

Every value of a CSV record is a string, so the schema is applied to an object of strings.
To check a million rows fast, the keywords that say something about one string column
(`type: string`, `minLength`, `maxLength`, `pattern`, `enum`, `const`, `format: mdy-date`)
are compiled into vectorised polars expressions. Anything else in the schema (other types,
`allOf`, `if`, other formats, ...) is *residual*: rows that pass the compiled checks are then
validated one by one with fastjsonschema against the whole schema. The default schema is
fully compiled. `required` and `additionalProperties: false` are about columns, so they are
checked once, on the header.

Semantics to know:
- `pattern` uses the regex engine of polars (Rust `regex`), like ECMA 262: `$` matches only
  at the end of the value. Patterns it cannot compile (look-around, back-references) are
  residual and use Python's `re`.
- `format: mdy-date` (mrbatch's own format) accepts `m/d/yy` or `m/d/yyyy` with one- or
  two-digit month and day, and refuses days that do not exist (`2/29/15`, `4/31/16`).
  Two-digit years are 20yy for leap years.
- One error per invalid row: the first failing check, taking properties in schema order and
  keywords in the order above.

Example:
    >>> rules = load_rules()
    >>> rules.required[:2]
    ('uuid', 'Country')
    >>> rules.residual
    False
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import polars as pl

from mrbatch.errors import ConfigError
from mrbatch.pipeline.columns import HeaderRules, read_schema

__all__ = ["MDY_DATE_FORMAT", "Check", "Rules", "is_mdy_date", "load_rules", "mdy_date_fails"]

MDY_DATE_FORMAT = "mdy-date"
_MDY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{2}|[0-9]{4})")
_MDY_POLARS = r"^[0-9]{1,2}/[0-9]{1,2}/([0-9]{2}|[0-9]{4})$"
# Keywords that carry no constraint.
_ANNOTATIONS = {"title", "description", "$comment", "default", "examples", "$id", "$schema"}
_TOP_HANDLED = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}


def _days_in_month(month: int, year: int) -> int:
    if month == 2:
        leap = year % 4 == 0 if year < 100 else year % 4 == 0 and (year % 100 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def is_mdy_date(value: str) -> bool:
    """True when `value` is a real calendar date written month/day/year (see module doc)."""
    match = _MDY.fullmatch(value)
    if match is None:
        return False
    month, day, year = (int(part) for part in match.groups())
    return 1 <= month <= 12 and 1 <= day <= _days_in_month(month, year)


def mdy_date_fails(column: pl.Expr) -> pl.Expr:
    """Vectorised `not is_mdy_date(value)`; the two are tested to agree.

    The shape is checked by a regex; the calendar by polars' date parser (proleptic
    Gregorian; `%y` maps 00-68 to 20yy and 69-99 to 19yy, which has the same leap years
    for two-digit years as 20yy).
    """
    long_year = column.str.contains("/[0-9]{4}$")
    parsed = (
        pl.when(long_year)
        .then(column.str.strptime(pl.Date, "%m/%d/%Y", strict=False))
        .otherwise(column.str.strptime(pl.Date, "%m/%d/%y", strict=False))
    )
    valid = column.str.contains(_MDY_POLARS) & parsed.is_not_null()
    return valid.fill_null(False).not_()


@dataclass(frozen=True)
class Check:
    """One compiled check: `fails(column)` is True on the rows that break it."""

    field: str
    rule: str
    message: str
    fails: Callable[[pl.Expr], pl.Expr]


@dataclass(frozen=True)
class Rules:
    """A loaded schema: compiled checks plus what is left for per-row validation."""

    schema: Mapping[str, Any]
    source: str
    required: tuple[str, ...]
    checks: tuple[Check, ...]
    residual: bool
    closed: bool = False  # additionalProperties: false
    properties: tuple[str, ...] = field(default=())

    def check_header(self, columns: Sequence[str], *, file: str) -> None:
        """Raise InputFileError naming `file` if the header lacks or adds columns."""
        header = HeaderRules(self.required, self.closed, self.properties)
        header.check_header(columns, file=file)

    def validator(self) -> Callable[[Mapping[str, str]], object]:
        """The per-row fastjsonschema validator (raises JsonSchemaValueException)."""
        return _compile_validator(json.dumps(self.schema, sort_keys=True))


_VALIDATORS: dict[str, Callable[[Mapping[str, str]], object]] = {}


def _compile_validator(schema_json: str) -> Callable[[Mapping[str, str]], object]:
    # A cache of pure compiled code keyed by the schema text: compiling is slow, and the
    # result depends on nothing else.
    if schema_json not in _VALIDATORS:
        validate: Callable[[Mapping[str, str]], object] = fastjsonschema.compile(
            json.loads(schema_json), formats={MDY_DATE_FORMAT: is_mdy_date}
        )
        _VALIDATORS[schema_json] = validate
    return _VALIDATORS[schema_json]


def load_rules(path: str | Path | None = None) -> Rules:
    """Load the schema at `path` (or the shipped default) and compile it.

    Raises ConfigError when the file cannot be read, is not JSON, or is not a valid
    draft 7 schema for an object.
    """
    schema, source = read_schema(path)
    return compile_rules(schema, source=source)


def compile_rules(schema: Any, *, source: str = "schema") -> Rules:
    """Compile a parsed schema; see `load_rules`."""
    if not isinstance(schema, dict):
        raise ConfigError(f"schema {source}: must be a JSON object")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"schema {source}: not a valid draft 7 schema ({exc.message})") from exc
    if schema.get("type", "object") != "object":
        raise ConfigError(f"schema {source}: must describe an object (type: object)")
    properties = schema.get("properties", {})
    checks: list[Check] = []
    residual = any(key not in _TOP_HANDLED for key in schema)
    additional = schema.get("additionalProperties", True)
    residual = residual or additional not in (True, False)
    for name, spec in properties.items():
        compiled, rest = _compile_property(name, spec)
        checks.extend(compiled)
        residual = residual or rest
    return Rules(
        schema=schema,
        source=source,
        required=tuple(schema.get("required", ())),
        checks=tuple(checks),
        residual=residual,
        closed=additional is False,
        properties=tuple(properties),
    )


def _compile_property(name: str, spec: Any) -> tuple[list[Check], bool]:
    """Compiled checks for one property, and whether anything was left over."""
    if not isinstance(spec, dict):
        return [], spec is not True
    checks: list[Check] = []
    residual = False
    for keyword, value in spec.items():
        if keyword in _ANNOTATIONS or (keyword == "type" and value == "string"):
            continue
        check = _compile_keyword(name, keyword, value)
        if check is None:
            residual = True
        else:
            checks.append(check)
    order = ("minLength", "maxLength", "pattern", "enum", "const", "format")
    checks.sort(key=lambda check: order.index(check.rule))
    return checks, residual


def _compile_keyword(name: str, keyword: str, value: Any) -> Check | None:
    """A Check for one keyword of a string property, or None if it must run per row."""
    if keyword == "minLength":
        return Check(name, keyword, f"{name} is shorter than {value} characters",
                     lambda col: col.str.len_chars() < value)  # fmt: skip
    if keyword == "maxLength":
        return Check(name, keyword, f"{name} is longer than {value} characters",
                     lambda col: col.str.len_chars() > value)  # fmt: skip
    if keyword == "pattern" and _polars_accepts(value):
        return Check(name, keyword, f"{name} does not match the pattern {value}",
                     lambda col: col.str.contains(value).not_())  # fmt: skip
    if keyword in ("enum", "const"):
        allowed = value if keyword == "enum" else [value]
        if all(isinstance(item, str) for item in allowed):
            shown = ", ".join(allowed)
            return Check(name, keyword, f"{name} is not one of: {shown}",
                         lambda col: col.is_in(allowed).not_())  # fmt: skip
    if keyword == "format" and value == MDY_DATE_FORMAT:
        return Check(name, keyword, f"{name} is not a month/day/year date", mdy_date_fails)
    return None


def _polars_accepts(pattern: str) -> bool:
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.ComputeError:
        return False
    return True
