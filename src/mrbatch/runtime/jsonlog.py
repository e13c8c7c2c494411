"""Structured logs: one JSON object per line, from every process of the stack.

Each process calls `configure_logging` at its entry point. Records go to
`<data_dir>/logs/<service>.jsonl` as JSON (time, level, service, region, logger, message,
and the `file_id`, `execution`, `epoch` a caller passes with `extra=`), and, for a person
reading `run/<service>.log`, as text on stdout. `read_logs` / `mrbatch logs` read them
back, filtered by region, file and time.

Example:
    >>> record = logging.LogRecord("x", logging.INFO, "", 0, "claimed", None, None)
    >>> record.file_id = "input/a.csv#v1"
    >>> json.loads(JsonFormatter("us-east-1", "us-east-1").format(record))["file_id"]
    'input/a.csv#v1'
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mrbatch.errors import ConfigError
from mrbatch.runtime.config import stack_logs_dir

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "configure_logging",
    "format_line",
    "parse_since",
    "read_logs",
]

# what a caller may attach to a record (`logger.info(..., extra={"file_id": ...})`)
CONTEXT_FIELDS = ("file_id", "execution", "epoch")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, stamped with the process's service and region."""

    def __init__(self, service: str, region: str | None) -> None:
        super().__init__()
        self._service, self._region = service, region

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "ts": round(record.created, 3),
            "level": record.levelname,
            "service": self._service,
            "region": getattr(record, "region", None) or self._region,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(data_dir: Path, service: str, region: str | None = None) -> None:
    """Log INFO and above as JSON lines to `logs/<service>.jsonl` and as text to stdout
    (which the supervisor keeps in `run/<service>.log`). Replaces earlier handlers, so a
    second call does not log twice."""
    path = stack_logs_dir(data_dir) / f"{service}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(JsonFormatter(service, region))
    to_stdout = logging.StreamHandler(sys.stdout)
    to_stdout.setFormatter(
        logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.addHandler(to_file)
    root.addHandler(to_stdout)
    root.setLevel(logging.INFO)


def _matches(
    entry: dict[str, Any], region: str | None, file_id: str | None, since: float | None
) -> bool:
    if region is not None and entry.get("region") != region:
        return False
    if file_id is not None and file_id not in str(entry.get("file_id", "")) + str(
        entry.get("message", "")
    ):
        return False
    return since is None or float(entry.get("ts", 0)) >= since


def _entries(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete lines of `path` from byte `offset`, parsed; and the offset after them (a
    line still being written is left for the next read)."""
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    entries = []
    for line in data[:end].splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # not ours (a partial line after a crash): skip, keep reading
    return entries, offset + end


def read_logs(
    data_dir: Path,
    *,
    region: str | None = None,
    file_id: str | None = None,
    since: float | None = None,
    follow: bool = False,
    stop: Callable[[], bool] = lambda: False,
    poll: float = 0.5,
) -> Iterator[dict[str, Any]]:
    """Entries of every process's log, oldest first; with `follow`, then keep yielding
    new ones (polling every `poll` s) until `stop()` is true. `file_id` matches the field
    or the message (a file name or id), `since` is epoch seconds."""
    offsets: dict[Path, int] = {}
    while True:
        batch: list[dict[str, Any]] = []
        for path in sorted(stack_logs_dir(data_dir).glob("*.jsonl")):
            entries, offsets[path] = _entries(path, offsets.get(path, 0))
            batch.extend(e for e in entries if _matches(e, region, file_id, since))
        batch.sort(key=lambda e: float(e.get("ts", 0)))
        yield from batch
        if not follow or stop():
            return
        time.sleep(poll)  # tailing files other processes append to: nothing to wait on


def format_line(entry: dict[str, Any]) -> str:
    """One entry for a person: time, service/region, level, message, context."""
    context = " ".join(f"{k}={entry[k]}" for k in CONTEXT_FIELDS if k in entry)
    where = entry.get("service", "?")
    if entry.get("region") and entry.get("region") != where:
        where = f"{where}/{entry['region']}"
    line = f"{entry.get('time', '')} {where} {entry.get('level', '')} {entry.get('message', '')}"
    if context:
        line += f"  [{context}]"
    if entry.get("exception"):
        line += "\n" + str(entry["exception"])
    return line


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """`--since` as epoch seconds: a duration back from `now` (`90s`, `10m`, `2h`, `1d`) or
    an ISO 8601 time (`2026-05-01T12:00:00`, UTC unless it names a zone)."""
    value = text.strip()
    if value[:-1].replace(".", "", 1).isdigit() and value[-1:] in _UNITS:
        return now - float(value[:-1]) * _UNITS[value[-1]]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: give a duration (90s, 10m, 2h, 1d) or an ISO time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
