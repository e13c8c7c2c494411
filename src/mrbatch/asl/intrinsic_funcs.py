"""The body of every intrinsic function, with the argument rules of the AWS documentation.

Each function receives an `Invocation` (the parsed call, its evaluated arguments, the random
source) and returns a JSON value or raises `StatesError(States.Runtime)` through
`Invocation.fail`, with a cause that names the function and the rule broken. Split from
intrinsics.py (syntax and evaluation) to keep both modules small.

Choices made where AWS leaves a case open, so behaviour is predictable:
- Values are compared as JSON texts (ArrayContains, ArrayUnique): `1` and `1.0` differ, as with
  Jackson's nodes on AWS; `true` never equals `1`.
- Integer arguments (ArrayRange, ArrayPartition, ArrayGetItem) accept integral numbers such as
  `2.0` and refuse `2.5`; MathAdd and MathRandom round to the nearest integer (half up, like
  Java's Math.round) as the AWS documentation says for them.
- MathRandom returns an integer in [start, end) (start inclusive, end exclusive, as documented).
  With a seed the value is reproducible here but not the value AWS's Java generator returns.
- States.Format: an unescaped `{` or `}` that is not part of `{}` is kept literally; a template
  that comes from a path (not a literal) has no escapes, only `{}` placeholders.
- StringSplit with an empty delimiter fails (AWS splits on each delimiter character; there is
  none), and empty pieces are dropped, as AWS does for consecutive delimiters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from mrbatch.asl.errors import RUNTIME, StatesError
from mrbatch.asl.intrinsicsyntax import Call, Literal

__all__ = ["FUNCTIONS", "Function", "Invocation"]

Json: TypeAlias = Any

MAX_RANGE_ITEMS: Final = 1000
MAX_ENCODING_CHARS: Final = 10_000
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
HASH_ALGORITHMS: Final = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}


@dataclass(frozen=True)
class Invocation:
    """One call being evaluated: the syntax node, the argument values, the random source."""

    call: Call
    args: list[Json]
    rng: random.Random

    def fail(self, message: str) -> StatesError:
        # AWS fails the execution with States.Runtime (not the reserved, catchable
        # States.IntrinsicFailure) when an intrinsic's arguments are wrong at run time
        return StatesError(RUNTIME, f"{self.call.name}: {message}")

    def array(self, i: int) -> list[Json]:
        value = self.args[i]
        if not isinstance(value, list):
            raise self.fail(f"argument {i + 1} must be an array, got {_kind(value)}")
        return value

    def string(self, i: int, max_chars: int | None = None) -> str:
        value = self.args[i]
        if not isinstance(value, str):
            raise self.fail(f"argument {i + 1} must be a string, got {_kind(value)}")
        if max_chars is not None and len(value) > max_chars:
            raise self.fail(f"argument {i + 1} has {len(value)} characters (max {max_chars})")
        return value

    def number(self, i: int) -> int | float:
        value = self.args[i]
        if not _is_number(value):
            raise self.fail(f"argument {i + 1} must be a number, got {_kind(value)}")
        return value  # type: ignore[no-any-return]

    def integer(self, i: int) -> int:
        value = self.number(i)
        if isinstance(value, float) and not value.is_integer():
            raise self.fail(f"argument {i + 1} must be an integer, got {value}")
        return int(value)

    def rounded(self, i: int) -> int:
        return math.floor(self.number(i) + 0.5)


@dataclass(frozen=True)
class Function:
    """An intrinsic: its (min, max) argument count (max None = any) and its body."""

    arity: tuple[int, int | None]
    run: Callable[[Invocation], Json]


def _is_number(value: Json) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _canonical(value: Json) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- generic and JSON ------------------------------------------------------------------------


def _format(inv: Invocation) -> str:
    inv.string(0)
    template = inv.call.args[0]
    if isinstance(template, Literal) and template.raw is not None:
        pieces = _split_escaped_template(template.raw)
    else:
        pieces = inv.args[0].split("{}")
    values = inv.args[1:]
    if len(pieces) - 1 != len(values):
        raise inv.fail(
            f"the template has {len(pieces) - 1} placeholders but {len(values)} values were given"
        )
    out = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        out.append(value if isinstance(value, str) else _render(value))
        out.append(piece)
    return "".join(out)


def _split_escaped_template(raw: str) -> list[str]:
    """Literal text between `{}` placeholders; `\\{` and friends are literal characters."""
    pieces, current, pos = [], [], 0
    while pos < len(raw):
        if raw[pos] == "\\":
            current.append(raw[pos + 1])
            pos += 2
        elif raw.startswith("{}", pos):
            pieces.append("".join(current))
            current, pos = [], pos + 2
        else:
            current.append(raw[pos])
            pos += 1
    pieces.append("".join(current))
    return pieces


def _render(value: Json) -> str:
    """How States.Format prints a non-string: JSON scalars, Java-style {k=v} and [a, b]."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _string_to_json(inv: Invocation) -> Json:
    text = inv.string(0)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise inv.fail(f"the string is not valid JSON ({exc})") from None


def _json_to_string(inv: Invocation) -> str:
    return json.dumps(inv.args[0], separators=(",", ":"), ensure_ascii=False)


def _json_merge(inv: Invocation) -> dict[str, Json]:
    first, second, deep = inv.args
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise inv.fail("the first two arguments must be JSON objects")
    if not isinstance(deep, bool):
        raise inv.fail(f"argument 3 (deep merge) must be a boolean, got {_kind(deep)}")
    if deep:
        raise inv.fail("deep merge (true) is not supported; pass false for a shallow merge")
    return {**first, **second}


# --- arrays ----------------------------------------------------------------------------------


def _array_partition(inv: Invocation) -> list[list[Json]]:
    items, size = inv.array(0), inv.integer(1)
    if size <= 0:
        raise inv.fail(f"the chunk size must be a positive integer, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(inv: Invocation) -> bool:
    target = _canonical(inv.args[1])
    return any(_canonical(item) == target for item in inv.array(0))


def _array_range(inv: Invocation) -> list[int]:
    start, end, step = inv.integer(0), inv.integer(1), inv.integer(2)
    if step == 0:
        raise inv.fail("the step must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise inv.fail(f"the range has {count} items (max {MAX_RANGE_ITEMS})")
    return [start + i * step for i in range(count)]


def _array_get_item(inv: Invocation) -> Json:
    items, index = inv.array(0), inv.integer(1)
    if not 0 <= index < len(items):
        raise inv.fail(f"index {index} is out of bounds for an array of {len(items)} items")
    return items[index]


def _array_unique(inv: Invocation) -> list[Json]:
    seen: set[str] = set()
    out = []
    for item in inv.array(0):
        key = _canonical(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# --- encoding and hashing --------------------------------------------------------------------


def _base64_encode(inv: Invocation) -> str:
    text = inv.string(0, MAX_ENCODING_CHARS)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base64_decode(inv: Invocation) -> str:
    text = inv.string(0, MAX_ENCODING_CHARS)
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise inv.fail(f"the string is not base64-encoded UTF-8 text ({exc})") from None


def _hash(inv: Invocation) -> str:
    data = inv.string(0, MAX_ENCODING_CHARS)
    algorithm = inv.string(1)
    if algorithm not in HASH_ALGORITHMS:
        raise inv.fail(f"unknown algorithm {algorithm!r}; use one of {', '.join(HASH_ALGORITHMS)}")
    return HASH_ALGORITHMS[algorithm](data.encode("utf-8")).hexdigest()


# --- math, strings, ids ----------------------------------------------------------------------


def _math_random(inv: Invocation) -> int:
    start, end = inv.rounded(0), inv.rounded(1)
    if start >= end:
        raise inv.fail(f"the start ({start}) must be less than the end ({end})")
    source = random.Random(inv.rounded(2)) if len(inv.args) == 3 else inv.rng
    return source.randrange(start, end)


def _math_add(inv: Invocation) -> int:
    a, b = inv.rounded(0), inv.rounded(1)
    for value in (a, b):
        if not INT32_MIN <= value <= INT32_MAX:
            raise inv.fail(f"{value} is outside the range {INT32_MIN}..{INT32_MAX}")
    return a + b


def _string_split(inv: Invocation) -> list[str]:
    text, delimiters = inv.string(0), inv.string(1)
    if delimiters == "":
        raise inv.fail("the delimiter must not be empty")
    pieces: list[str] = []
    current: list[str] = []
    for c in text:
        if c in delimiters:
            pieces.append("".join(current))
            current = []
        else:
            current.append(c)
    pieces.append("".join(current))
    return [p for p in pieces if p != ""]


def _uuid(inv: Invocation) -> str:
    return str(uuid.UUID(int=inv.rng.getrandbits(128), version=4))


FUNCTIONS: Final[dict[str, Function]] = {
    "States.Format": Function((1, None), _format),
    "States.StringToJson": Function((1, 1), _string_to_json),
    "States.JsonToString": Function((1, 1), _json_to_string),
    "States.Array": Function((0, None), lambda inv: list(inv.args)),
    "States.ArrayPartition": Function((2, 2), _array_partition),
    "States.ArrayContains": Function((2, 2), _array_contains),
    "States.ArrayRange": Function((3, 3), _array_range),
    "States.ArrayGetItem": Function((2, 2), _array_get_item),
    "States.ArrayLength": Function((1, 1), lambda inv: len(inv.array(0))),
    "States.ArrayUnique": Function((1, 1), _array_unique),
    "States.Base64Encode": Function((1, 1), _base64_encode),
    "States.Base64Decode": Function((1, 1), _base64_decode),
    "States.Hash": Function((2, 2), _hash),
    "States.JsonMerge": Function((3, 3), _json_merge),
    "States.MathRandom": Function((2, 3), _math_random),
    "States.MathAdd": Function((2, 2), _math_add),
    "States.StringSplit": Function((2, 2), _string_split),
    "States.UUID": Function((0, 0), _uuid),
}
"""Every intrinsic function of the States Language, by its full name."""
