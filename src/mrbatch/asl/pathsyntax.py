"""JSONPath syntax for Step Functions paths: the typed AST and its parser.

Split from paths.py (which evaluates paths) to keep each module small. `parse_path` is cached:
definitions reuse the same few paths for every execution, so each is parsed once per process.
Syntax errors become `DefinitionError` with the position and the path text, for a person.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

from mrbatch.asl.errors import DefinitionError
from mrbatch.asl.pathfilter import FilterExpr, FilterSyntaxError, parse_filter

__all__ = [
    "Descend",
    "Field",
    "Fields",
    "Filter",
    "Index",
    "Indices",
    "Length",
    "Path",
    "Segment",
    "Slice",
    "Wildcard",
    "parse_path",
    "parse_relative",
]

# --- the AST ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """`.name` or `['name']`: one member of an object."""

    name: str


@dataclass(frozen=True)
class Fields:
    """`['a','b']`: several members; Jayway returns them as an object."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    """`[3]` or `[-1]`: one element of an array (negative counts from the end)."""

    index: int


@dataclass(frozen=True)
class Indices:
    """`[0,2]`: several elements of an array."""

    indices: tuple[int, ...]


@dataclass(frozen=True)
class Slice:
    """`[start:end]`: a half-open range of an array; either bound may be omitted."""

    start: int | None
    end: int | None


@dataclass(frozen=True)
class Wildcard:
    """`.*` or `[*]`: every member of an object or element of an array."""


@dataclass(frozen=True)
class Filter:
    """`[?(expr)]`: the elements (or member values) for which `expr` holds."""

    expr: FilterExpr


@dataclass(frozen=True)
class Descend:
    """`..x`: apply `inner` to the node and to every node below it."""

    inner: Segment


@dataclass(frozen=True)
class Length:
    """`.length()`: the size of the array, object or string selected so far."""


Segment: TypeAlias = Field | Fields | Index | Indices | Slice | Wildcard | Filter | Descend | Length

_DEFINITE: Final = (Field, Index)

VARIABLE_NAME: Final = re.compile(r"[^\W\d]\w*")
"""A workflow variable's name: a letter or `_`, then letters, digits or `_` (Unicode)."""


@dataclass(frozen=True)
class Path:
    """A parsed path: its text, whether it starts at the context object, and its segments.

    `variable` names the workflow variable a `$name...` path starts at (None: `$` or `$$`).
    """

    text: str
    context: bool
    segments: tuple[Segment, ...]
    variable: str | None = None

    @property
    def definite(self) -> bool:
        """True when the path names at most one node (only fields, single indices, length())."""
        return all(isinstance(s, (*_DEFINITE, Length)) for s in self.segments)

    @property
    def reference(self) -> bool:
        """True for a reference path: fields and non-negative indices only."""
        return all(
            isinstance(s, Field) or (isinstance(s, Index) and s.index >= 0) for s in self.segments
        )


# --- parsing ---------------------------------------------------------------------------------


class _PathSyntaxError(Exception):
    """Internal: a syntax error, re-raised as DefinitionError or StatesError by the caller."""


class _Scanner:
    """Reads one path left to right; `pos` is the index of the next unread character."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, message: str) -> _PathSyntaxError:
        return _PathSyntaxError(f"{message} at position {self.pos} in {self.text!r}")


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> Path:
    """Parse a path; raise DefinitionError naming the problem when the syntax is wrong.

    >>> parse_path("$$.Map.Item.Index").context
    True
    >>> parse_path("$.a[0]").definite, parse_path("$.a[*]").definite
    (True, False)
    """
    try:
        return _parse(text)
    except (_PathSyntaxError, FilterSyntaxError) as exc:
        raise DefinitionError(f"invalid path {text!r}: {exc}") from None


def _parse(text: str) -> Path:
    if not isinstance(text, str) or not text.startswith("$"):
        raise _PathSyntaxError("a path must be a string starting with '$'")
    context = text.startswith("$$")
    variable = None if context else VARIABLE_NAME.match(text, 1)
    start = 2 if context else (variable.end() if variable else 1)
    scanner = _Scanner(text, start)
    segments = tuple(_segments(scanner))
    for seg in segments[:-1]:
        if isinstance(seg, Length):
            raise _PathSyntaxError("length() must be the last part of a path")
    return Path(text, context, segments, variable.group(0) if variable else None)


def _segments(s: _Scanner) -> Iterator[Segment]:
    while not s.at_end():
        if s.peek(2) == "..":
            s.pos += 2
            inner = _bracket(s) if s.peek() == "[" else _dotted(s)
            if isinstance(inner, Length):
                raise s.fail("length() cannot follow '..'")
            yield Descend(inner)
        elif s.peek() == ".":
            s.pos += 1
            yield _dotted(s)
        elif s.peek() == "[":
            yield _bracket(s)
        else:
            raise s.fail(f"unexpected {s.peek()!r}")


def _dotted(s: _Scanner) -> Segment:
    start = s.pos
    while not s.at_end() and s.peek() not in ".[":
        s.pos += 1
    name = s.text[start : s.pos]
    if name == "":
        raise s.fail("empty field name")
    if name == "*":
        return Wildcard()
    if name == "length()":
        return Length()
    if any(c in name for c in "]()'\"") or name != name.strip():
        raise s.fail(f"invalid field name {name!r} (use ['...'] for unusual names)")
    return Field(name)


def _bracket(s: _Scanner) -> Segment:
    s.pos += 1  # '['
    if s.peek(2) == "?(":
        end = _matching_close(s, s.pos + 1)
        expr = parse_filter(s.text[s.pos + 2 : end], parse_relative)
        s.pos = end + 1
        _expect(s, "]")
        return Filter(expr)
    close = s.text.find("]", s.pos) if s.peek() not in "'\"" else _after_quoted_list(s)
    if close < 0:
        raise s.fail("missing ']'")
    body = s.text[s.pos : close].strip()
    s.pos = close + 1
    return _bracket_body(body, s)


def _bracket_body(body: str, s: _Scanner) -> Segment:
    if body == "*":
        return Wildcard()
    if body.startswith(("'", '"')):
        names = tuple(_quoted_names(body, s))
        return Field(names[0]) if len(names) == 1 else Fields(names)
    if ":" in body:
        parts = body.split(":")
        if len(parts) != 2:
            raise s.fail(f"slice steps are not supported in [{body}]")
        return Slice(_opt_int(parts[0], s), _opt_int(parts[1], s))
    numbers = tuple(_int(p, s) for p in body.split(","))
    return Index(numbers[0]) if len(numbers) == 1 else Indices(numbers)


def _int(text: str, s: _Scanner) -> int:
    text = text.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii():
        raise s.fail(f"expected an array index, a quoted name, '*' or a filter, got {text!r}")
    return int(text)


def _opt_int(text: str, s: _Scanner) -> int | None:
    return None if text.strip() == "" else _int(text, s)


def _quoted_names(body: str, s: _Scanner) -> Iterator[str]:
    pos = 0
    while True:
        quote = body[pos]
        end = body.find(quote, pos + 1)
        if end < 0:
            raise s.fail("unterminated quoted name")
        yield body[pos + 1 : end]
        rest = body[end + 1 :].lstrip()
        if rest == "":
            return
        if not rest.startswith(","):
            raise s.fail(f"unexpected {rest[0]!r} after a quoted name")
        rest = rest[1:].lstrip()
        if not rest.startswith(("'", '"')):
            raise s.fail("expected a quoted name after ','")
        pos = len(body) - len(rest)


def _after_quoted_list(s: _Scanner) -> int:
    """Index of the ']' closing a bracket of quoted names (quotes may contain ']')."""
    pos, quote = s.pos, None
    while pos < len(s.text):
        c = s.text[pos]
        if quote is not None:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "]":
            return pos
        pos += 1
    return -1


def _matching_close(s: _Scanner, open_pos: int) -> int:
    """Index of the ')' matching the '(' at open_pos, skipping quoted text and regexes."""
    depth, quote, pos = 0, None, open_pos
    while pos < len(s.text):
        c = s.text[pos]
        if quote is not None:
            if c == "\\":
                pos += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return pos
        pos += 1
    raise s.fail("unbalanced '(' in filter")


def _expect(s: _Scanner, char: str) -> None:
    if s.peek() != char:
        raise s.fail(f"expected {char!r}")
    s.pos += 1


def parse_relative(text: str) -> tuple[Segment, ...]:
    """Parse the part after '@' or '$' inside a filter into segments."""
    return tuple(_segments(_Scanner(text, 0)))
