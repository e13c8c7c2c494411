"""Reading the runtime's own JSON records (ready files, stack.json; they are written with
`mrbatch.atomic.atomic_write_json`), and the one place that makes a stack's data
directory private to its user."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mrbatch.errors import MrBatchError

__all__ = ["PRIVATE_UMASK", "private_data_dir", "read_json"]

# Every file a stack creates is owner-only: the data directory holds the secret key, the
# rows of every input (valid or not), the emails and the presigned links.
PRIVATE_UMASK = 0o077


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object file the runtime wrote; a damaged file is a clear error."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MrBatchError(f"cannot read {path}: {exc}") from exc
    if not isinstance(record, dict):
        raise MrBatchError(f"cannot read {path}: not a JSON object")
    return record


def private_data_dir(data_dir: Path) -> Path:
    """Make `data_dir` (created if missing) and everything this process and its children
    create from now on private to the user: directory 0700, umask 0o077 (so files are 0600
    and sub-directories 0700). A directory left readable by an older release has its
    contents tightened once. Call it at each entry point of a stack's processes.

        >>> private_data_dir(Path(".mrbatch"))  # doctest: +SKIP
    """
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if data_dir.stat().st_mode & PRIVATE_UMASK:
        _tighten(data_dir)
    return data_dir


def _tighten(root: Path) -> None:
    """Remove group and other permissions under `root` (the one-time migration)."""
    for folder, _, names in os.walk(root):
        for path in (Path(folder), *(Path(folder) / name for name in names)):
            try:
                mode = path.lstat().st_mode
                if not os.path.islink(path) and mode & PRIVATE_UMASK:
                    path.chmod(mode & ~PRIVATE_UMASK & 0o7777)
            except FileNotFoundError:  # a temp file that went meanwhile
                continue
