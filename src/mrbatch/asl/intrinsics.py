"""Intrinsic functions (`States.Format(...)` and friends): parse once at load, evaluate per run.

`parse` turns an expression into a `Call` tree and checks what can be checked before running:
the syntax, that each function exists, its number of arguments, the nesting depth (AWS allows
10 nested calls), and the syntax of path arguments. It raises `DefinitionError`. `evaluate`
runs a tree against the state's data and the context object and raises
`StatesError(States.Runtime)` when an argument is wrong at run time (wrong type, out of
range, too long), with a cause naming the function, as AWS Step Functions does.

Arguments are string literals in single quotes (escapes `\\'`, `\\{`, `\\}`, `\\\\`; any other
backslash is an error), numbers, `true`, `false`, `null`, paths (`$.x`, `$$.x`) and nested calls.
The function rules follow the AWS Step Functions documentation of each intrinsic; where AWS
leaves a case open the choice is stated on the function's implementation in intrinsic_funcs.py.

Randomness (`States.MathRandom` without a seed, `States.UUID`) comes from the `rng` argument,
so the engine can pass a `random.Random` seeded per execution and replay the same values after
a restart. Without one, the operating system's source is used.

>>> evaluate("States.Format('Hello, {}!', $.name)", {"name": "Ana"})
'Hello, Ana!'
>>> evaluate("States.ArrayGetItem(States.StringSplit('a,b,c', ','), 1)", {})
'b'
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from mrbatch.asl.errors import RUNTIME, DefinitionError, StatesError
from mrbatch.asl.intrinsic_funcs import FUNCTIONS, Invocation
from mrbatch.asl.intrinsicsyntax import Arg, Call, Literal, PathArg
from mrbatch.asl.paths import select
from mrbatch.asl.pathsyntax import parse_path

__all__ = ["Call", "Literal", "PathArg", "evaluate", "parse"]

Json: TypeAlias = Any

MAX_NESTING: Final = 10
"""AWS accepts up to 10 nested intrinsic calls in one field."""

_NAME = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_ESCAPABLE: Final = "'{}\\"


class _Parser:
    """Recursive descent over one expression; `pos` is the next unread character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> DefinitionError:
        return DefinitionError(f"intrinsic {self.text!r}: {message} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self, depth: int) -> Call:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected States.<Function>(")
        if depth > MAX_NESTING:
            raise self.fail(f"more than {MAX_NESTING} nested intrinsic functions")
        name = f"States.{match.group(1)}"
        if name not in FUNCTIONS:
            raise DefinitionError(f"unknown intrinsic function {name!r}")
        self.pos = match.end()
        args = self.arguments(depth)
        low, high = FUNCTIONS[name].arity
        if len(args) < low or (high is not None and len(args) > high):
            expected = str(low) if low == high else f"{low}..{'' if high is None else high}"
            raise DefinitionError(f"{name} takes {expected} arguments, got {len(args)}")
        return Call(name, tuple(args))

    def arguments(self, depth: int) -> list[Arg]:
        args: list[Arg] = []
        self.skip()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return args
        while True:
            args.append(self.argument(depth))
            self.skip()
            if self.text.startswith(")", self.pos):
                self.pos += 1
                return args
            if not self.text.startswith(",", self.pos):
                raise self.fail("expected ',' or ')'")
            self.pos += 1

    def argument(self, depth: int) -> Arg:
        self.skip()
        rest = self.text[self.pos :]
        if rest.startswith("'"):
            return self.string()
        if rest.startswith("$"):
            return self.path()
        if rest.startswith("States."):
            return self.call(depth + 1)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if re.match(word + r"(?![\w.$])", rest):
                self.pos += len(word)
                return Literal(value)
        number = _NUMBER.match(rest)
        if number is not None:
            self.pos += number.end()
            text = number.group(0)
            return Literal(float(text) if any(c in text for c in ".eE") else int(text))
        raise self.fail("expected a 'string', a number, true, false, null, a path or a call")

    def string(self) -> Literal:
        self.pos += 1
        start, chars = self.pos, list[str]()
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return Literal("".join(chars), raw)
            if c == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt == "" or nxt not in _ESCAPABLE:
                    raise self.fail("open escape: '\\' must be followed by one of ' { } \\")
                chars.append(nxt)
                self.pos += 2
                continue
            chars.append(c)
            self.pos += 1
        raise self.fail("unterminated string literal")

    def path(self) -> PathArg:
        start, depth, quote = self.pos, 0, None
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if quote is not None:
                quote = None if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.pos += 1
        text = self.text[start : self.pos].strip()
        try:
            parse_path(text)
        except DefinitionError as exc:
            raise self.fail(exc.message) from None
        return PathArg(text)


@functools.lru_cache(maxsize=4096)
def parse(expr: str) -> Call:
    """Parse an intrinsic expression; DefinitionError says what is wrong and where.

    >>> parse("States.Array(1, 'a', $.b)")
    Call(name='States.Array', args=(Literal(value=1, raw=None), Literal(value='a', raw='a'), PathArg(path='$.b')))
    """  # noqa: E501
    parser = _Parser(expr.strip())
    result = parser.call(1)
    parser.skip()
    if parser.pos != len(parser.text):
        raise parser.fail("unexpected text after the call")
    return result


_SYSTEM_RANDOM: Final = random.SystemRandom()


def evaluate(
    expr: str | Call,
    data: Json,
    context: Json = None,
    *,
    rng: random.Random | None = None,
    path_error: str = RUNTIME,
    variables: Mapping[str, Json] | None = None,
) -> Json:
    """Evaluate an intrinsic call against `data` (for `$` paths) and `context` (for `$$`).

    Raises StatesError(States.Runtime) for bad arguments, and StatesError(path_error)
    when a path argument matches nothing. `rng` is the random source for MathRandom (without
    a seed) and UUID; pass a seeded `random.Random` to make them reproducible.

    >>> evaluate("States.MathAdd($$.Map.Item.Index, 1)", {}, {"Map": {"Item": {"Index": 4}}})
    5
    >>> evaluate("States.UUID()", {}, rng=random.Random(7))
    '6513270e-269e-4d37-b2a7-4de452e6b438'
    """
    if isinstance(expr, str):
        try:
            expr = parse(expr)
        except DefinitionError as exc:
            raise StatesError(RUNTIME, str(exc)) from None
    return _eval(expr, data, context, rng or _SYSTEM_RANDOM, path_error, variables)


def _eval(
    call: Call,
    data: Json,
    context: Json,
    rng: random.Random,
    path_error: str,
    variables: Mapping[str, Json] | None,
) -> Json:
    values: list[Json] = []
    for arg in call.args:
        if isinstance(arg, Call):
            values.append(_eval(arg, data, context, rng, path_error, variables))
        elif isinstance(arg, PathArg):
            values.append(
                select(arg.path, data, context=context, error=path_error, variables=variables)
            )
        else:
            values.append(arg.value)
    return FUNCTIONS[call.name].run(Invocation(call, values, rng))
