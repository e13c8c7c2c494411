"""Deterministic names: file ids, object keys of a file's work, execution names.

Everything a run writes is named after the file *version*, so a re-run (a retry, a re-drive
in the other region) writes the same keys and can reuse what already exists.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "DEFAULT_INPUT_SUFFIXES",
    "INPUT_PREFIX",
    "chunk_key",
    "errors_key",
    "errors_part_key",
    "execution_name",
    "file_id",
    "is_input",
    "output_key",
    "processed_key",
    "relative_name",
    "work_prefix",
]

INPUT_PREFIX = "input/"
DEFAULT_INPUT_SUFFIXES: tuple[str, ...] = (".csv",)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_id(key: str, version_id: str) -> str:
    """The batch state table's key for one version of an input object."""
    return f"{key}#{version_id}"


def is_input(key: str, suffixes: tuple[str, ...] = DEFAULT_INPUT_SUFFIXES) -> bool:
    """Whether an object under `key` is a file to process: under `input/` and ending in one
    of `suffixes` (as the AWS sample's S3 event filter on `.csv`). Unlike S3's filter, the
    suffix is compared without regard to case: `DATA.CSV` is a CSV file too. An empty
    `suffixes` accepts every key under `input/`."""
    if not key.startswith(INPUT_PREFIX):
        return False
    return not suffixes or key.lower().endswith(tuple(s.lower() for s in suffixes))


def relative_name(key: str) -> str:
    """`input/a/b.csv` -> `a/b.csv`: the name outputs are stored under."""
    return key.removeprefix(INPUT_PREFIX)


def work_prefix(version_id: str) -> str:
    """Where the intermediate objects of one file version live."""
    return f"work/{version_id}/"


def chunk_key(version_id: str, name: str) -> str:
    return f"{work_prefix(version_id)}chunks/{name}"


def processed_key(version_id: str, name: str) -> str:
    return f"{work_prefix(version_id)}processed/{name}"


def errors_part_key(version_id: str, name: str) -> str:
    return f"{work_prefix(version_id)}errors/{name}"


def output_key(key: str, version_id: str) -> str:
    """Where the merged output of one file *version* goes. Per version, not per name: when
    two versions of a key are processed at once, the slower one must not overwrite the
    newer one's output, and each version's email must link to its own rows."""
    return f"output/completed/{version_id}/{relative_name(key)}"


def errors_key(key: str, version_id: str) -> str:
    """Where the errors report of one file version goes (per version, like the output)."""
    return f"output/errors/{version_id}/{relative_name(key)}"


def execution_name(key: str, version_id: str, epoch: int) -> str:
    """A Step Functions execution name (at most 80 characters of [A-Za-z0-9_-]) that is the
    same for the same file version and epoch, so a duplicate event or a repeated re-drive
    starts nothing new, while a re-drive under a new epoch gets a fresh execution."""
    digest = hashlib.sha256(file_id(key, version_id).encode()).hexdigest()[:16]
    stem = _UNSAFE.sub("-", relative_name(key)).strip("-")[:40] or "file"
    return f"{stem}-{digest}-e{epoch}"
