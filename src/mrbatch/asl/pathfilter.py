"""Filter expressions inside JSONPath brackets: `$.items[?(@.price < 10 && @.tag)]`.

The Jayway subset Step Functions users write: `@` (the candidate node) and `$` (the document
root) paths, literals (numbers, 'single' or "double" quoted strings, true, false, null),
comparisons `== != < <= > >=`, regex match `=~ /re/` (with an optional `i` flag, whole-string
match as in Jayway), existence (`@.tag` alone), `!`, `&&`, `||` and parentheses.

Comparisons never cross types: `<` between a number and a string is false, `==` between `1`
and `true` is false; a missing operand makes every comparison false but `!=` (as in Jayway).
Kept apart from paths.py so each module stays small; paths.py hands in a callback that resolves
`@`/`$` paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = ["FilterExpr", "parse_filter"]

Json: TypeAlias = Any
Segments: TypeAlias = tuple[Any, ...]
Resolver: TypeAlias = Callable[[Segments, Json, Json], tuple[bool, Json]]
"""resolve(segments, node, root) -> (found, value) for a path relative to node."""
SegmentParser: TypeAlias = Callable[[str], Segments]

_OPS: Final = ("==", "!=", "<=", ">=", "=~", "<", ">")


class FilterSyntaxError(Exception):
    """The filter text is not valid; paths.py turns it into a DefinitionError."""


@dataclass(frozen=True)
class PathOperand:
    """`@...` (relative to the candidate) or `$...` (relative to the document root)."""

    absolute: bool
    segments: Segments


@dataclass(frozen=True)
class Literal:
    """A JSON literal written in the filter."""

    value: Json


@dataclass(frozen=True)
class Regex:
    """`/pattern/flags` on the right of `=~`."""

    pattern: re.Pattern[str]


Operand: TypeAlias = PathOperand | Literal | Regex


@dataclass(frozen=True)
class FilterExpr:
    """One node of the filter AST: a comparison, an existence test, or a boolean combination."""

    kind: str  # "cmp", "exists", "not", "and", "or"
    op: str = ""
    left: Operand | None = None
    right: Operand | None = None
    children: tuple[FilterExpr, ...] = ()

    def holds(self, node: Json, root: Json, resolve: Resolver) -> bool:
        """Whether the filter accepts `node` (an element of the array being filtered)."""
        if self.kind == "and":
            return all(c.holds(node, root, resolve) for c in self.children)
        if self.kind == "or":
            return any(c.holds(node, root, resolve) for c in self.children)
        if self.kind == "not":
            return not self.children[0].holds(node, root, resolve)
        assert self.left is not None
        found, left = _value(self.left, node, root, resolve)
        if self.kind == "exists":
            return found
        assert self.right is not None
        found_right, right = _value(self.right, node, root, resolve)
        if not (found and found_right):
            return self.op == "!="  # Jayway: an undefined operand is unequal to anything
        return _compare(self.op, left, right)


def _value(operand: Operand, node: Json, root: Json, resolve: Resolver) -> tuple[bool, Json]:
    if isinstance(operand, PathOperand):
        return resolve(operand.segments, root if operand.absolute else node, root)
    if isinstance(operand, Regex):
        return True, operand.pattern
    return True, operand.value


def _is_number(v: Json) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equal(a: Json, b: Json) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if _is_number(a) or _is_number(b) or isinstance(a, bool) != isinstance(b, bool):
        return False
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _compare(op: str, a: Json, b: Json) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op == "=~":
        return isinstance(a, str) and isinstance(b, re.Pattern) and b.fullmatch(a) is not None
    comparable = (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))
    if not comparable:
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


class _Parser:
    """Recursive descent over the filter text: or := and ('||' and)*; and := unary ('&&' ...)."""

    def __init__(self, text: str, parse_segments: SegmentParser) -> None:
        self.text = text
        self.pos = 0
        self.parse_segments = parse_segments

    def fail(self, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(f"filter {self.text!r}: {message} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def parse(self) -> FilterExpr:
        expr = self.disjunction()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return expr

    def disjunction(self) -> FilterExpr:
        parts = [self.conjunction()]
        while self.take("||"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else FilterExpr("or", children=tuple(parts))

    def conjunction(self) -> FilterExpr:
        parts = [self.unary()]
        while self.take("&&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else FilterExpr("and", children=tuple(parts))

    def unary(self) -> FilterExpr:
        if self.take("!"):
            return FilterExpr("not", children=(self.unary(),))
        if self.take("("):
            inner = self.disjunction()
            if not self.take(")"):
                raise self.fail("missing ')'")
            return inner
        return self.comparison()

    def comparison(self) -> FilterExpr:
        left = self.operand()
        self.skip()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            if not isinstance(left, PathOperand):
                raise self.fail("a literal alone is not a condition")
            return FilterExpr("exists", left=left)
        self.pos += len(op)
        right = self.regex() if op == "=~" else self.operand()
        return FilterExpr("cmp", op=op, left=left, right=right)

    def operand(self) -> Operand:
        self.skip()
        rest = self.text[self.pos :]
        if rest.startswith(("@", "$")):
            return self.path_operand(rest[0] == "$")
        if rest.startswith(("'", '"')):
            return Literal(self.quoted(rest[0]))
        match = re.match(r"-?\d+(\.\d+)?([eE][+-]?\d+)?|true\b|false\b|null\b", rest)
        if match is None:
            raise self.fail("expected '@', '$', a string, a number, true, false or null")
        self.pos += match.end()
        return Literal(json.loads(match.group(0)))

    def path_operand(self, absolute: bool) -> PathOperand:
        start = self.pos + 1
        end, depth, quote = start, 0, None
        while end < len(self.text):
            c = self.text[end]
            if quote is not None:
                quote = None if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and (c.isspace() or c in "=!<>&|)"):
                break
            end += 1
        self.pos = end
        try:
            return PathOperand(absolute, self.parse_segments(self.text[start:end]))
        except Exception as exc:
            raise self.fail(str(exc)) from None

    def quoted(self, quote: str) -> str:
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail("unterminated string")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def regex(self) -> Regex:
        self.skip()
        match = re.match(r"/((?:\\.|[^/\\])*)/([i]?)", self.text[self.pos :])
        if match is None:
            raise self.fail("expected /regex/ after '=~'")
        self.pos += match.end()
        try:
            flags = re.IGNORECASE if match.group(2) else 0
            return Regex(re.compile(match.group(1), flags))
        except re.error as exc:
            raise self.fail(f"bad regex: {exc}") from None


def parse_filter(text: str, parse_segments: SegmentParser) -> FilterExpr:
    """Parse the text between `[?(` and `)]`; FilterSyntaxError describes what is wrong."""
    return _Parser(text, parse_segments).parse()
