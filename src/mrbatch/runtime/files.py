"""Small file helpers for the runtime's own records (ready files, stack.json)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mrbatch.errors import MrBatchError

__all__ = ["atomic_write_json", "read_json"]


def atomic_write_json(path: Path, record: Any) -> None:
    """Write `record` as JSON so that readers see the old file or the new one, never a part:
    temp file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object file the runtime wrote; a damaged file is a clear error."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MrBatchError(f"cannot read {path}: {exc}") from exc
    if not isinstance(record, dict):
        raise MrBatchError(f"cannot read {path}: not a JSON object")
    return record
