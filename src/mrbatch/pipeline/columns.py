"""What a job needs to know about columns before any row is read, without polars.

The process that runs `mrbatch process` checks the input's header against the schema, writes
the output header and supervises the workers; it never touches a row. Importing polars and
jsonschema (~0.25 s) and compiling the schema is for the workers, so this module holds the
column names, the schema file's reading, and the header check, in plain Python.

Example:
    >>> rules = header_rules({"type": "object", "required": ["uuid"]})
    >>> rules.check_header(("uuid", "Country"), file="in.csv")
    >>> output_header_line(("uuid", "Country"))
    b'uuid,Country,Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit\\n'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mrbatch.errors import ConfigError, InputFileError

__all__ = [
    "ENRICHED_COLUMNS",
    "FINANCIAL_COLUMNS",
    "HeaderRules",
    "header_rules",
    "output_header_line",
    "read_schema",
]

# Columns of the financial-data CSV, and the output columns they become (same order).
FINANCIAL_COLUMNS = (
    "uuid", "unitsSold", "unitPrice", "unitCost", "totalRevenue", "totalCost", "totalProfit",
)  # fmt: skip
ENRICHED_COLUMNS = (
    "Units Sold", "Unit Price", "Unit Cost", "Total Revenue", "Total Cost", "Total Profit",
)  # fmt: skip

# Characters that make polars' CSV writer quote a value.
_SPECIAL = (",", '"', "\r", "\n")


def read_schema(path: str | Path | None) -> tuple[Any, str]:
    """The parsed JSON of the schema at `path` (or the shipped default), and its name.

    Raises ConfigError when the file cannot be read or is not JSON.
    """
    if path is None:
        text = resources.files("mrbatch.pipeline").joinpath("default_schema.json").read_text()
        source = "default"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"schema {source}: cannot be read ({exc})") from exc
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise ConfigError(f"schema {source}: not JSON ({exc})") from exc


@dataclass(frozen=True)
class HeaderRules:
    """What a schema says about a file's columns: `required` and `additionalProperties`."""

    required: tuple[str, ...]
    closed: bool  # additionalProperties: false
    properties: tuple[str, ...]

    def check_header(self, columns: Sequence[str], *, file: str) -> None:
        """Raise InputFileError naming `file` if the header lacks or adds columns."""
        missing = [name for name in self.required if name not in columns]
        if missing:
            raise InputFileError(file, f"the header lacks the column(s): {', '.join(missing)}")
        if self.closed:
            extra = [name for name in columns if name not in self.properties]
            if extra:
                raise InputFileError(file, f"unexpected header column(s): {', '.join(extra)}")


def header_rules(schema: Any) -> HeaderRules | None:
    """The header rules of a parsed schema, as `compile_rules` would find them; None when
    the schema's shape is unusual (then only `compile_rules` can say what is wrong)."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    required = schema.get("required", [])
    properties = schema.get("properties", {})
    additional = schema.get("additionalProperties", True)
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        return None
    if not isinstance(properties, dict) or not isinstance(additional, bool | dict):
        return None
    return HeaderRules(tuple(required), additional is False, tuple(properties))


def output_header_line(columns: Sequence[str]) -> bytes | None:
    """The output header for input `columns` when no name needs quoting (the usual case),
    byte for byte what `process.output_header` writes; None otherwise."""
    names = [*columns, *ENRICHED_COLUMNS]
    if any(not name or any(c in name for c in _SPECIAL) for name in names):
        return None
    return (",".join(names) + "\n").encode()
