"""The syntax tree of an intrinsic call: literals, path arguments and nested calls.

Its own module so that the parser and evaluator (intrinsics.py) and the function bodies
(intrinsic_funcs.py) both depend on it, and not on each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Arg", "Call", "Literal", "PathArg"]


@dataclass(frozen=True)
class Literal:
    """A literal argument. For strings, `raw` keeps the escapes, which States.Format needs."""

    value: Any
    raw: str | None = None


@dataclass(frozen=True)
class PathArg:
    """A path argument, `$...` into the data or `$$...` into the context object."""

    path: str


@dataclass(frozen=True)
class Call:
    """`States.<name>(args...)`."""

    name: str
    args: tuple[Arg, ...]


Arg: TypeAlias = Literal | PathArg | Call
