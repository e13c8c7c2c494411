"""JSON logs: one object per line with the process's context, read back filtered."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrbatch.errors import ConfigError
from mrbatch.runtime.jsonlog import configure_logging, format_line, parse_since, read_logs


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_records_are_json_lines_with_service_region_and_context(
    tmp_path: Path, restore_root_logger: None
) -> None:
    configure_logging(tmp_path, "us-east-1", "us-east-1")
    log = logging.getLogger("mrbatch.test")
    log.info("claimed %s", "a.csv", extra={"file_id": "input/a.csv#v1", "epoch": 3})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = (tmp_path / "logs" / "us-east-1.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "claimed a.csv"
    assert (first["service"], first["region"], first["level"]) == ("us-east-1", "us-east-1", "INFO")
    assert (first["file_id"], first["epoch"]) == ("input/a.csv#v1", 3)
    assert "ValueError: boom" in second["exception"]


def test_read_logs_merges_processes_in_time_order_and_filters(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = {
        "us-east-1.jsonl": [
            {"ts": 10, "region": "us-east-1", "message": "a", "file_id": "input/x.csv#1"},
            {"ts": 30, "region": "us-east-1", "message": "c"},
        ],
        "gateway.jsonl": [{"ts": 20, "region": None, "message": "b about x.csv"}],
    }
    for name, entries in lines.items():
        (folder / name).write_text("".join(json.dumps(e) + "\n" for e in entries) + '{"ts": 4')
    assert [e["message"] for e in read_logs(tmp_path)] == ["a", "b about x.csv", "c"]
    assert [e["message"] for e in read_logs(tmp_path, region="us-east-1")] == ["a", "c"]
    assert [e["message"] for e in read_logs(tmp_path, file_id="x.csv")] == ["a", "b about x.csv"]
    assert [e["message"] for e in read_logs(tmp_path, since=20)] == ["b about x.csv", "c"]


def test_follow_yields_lines_appended_later(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "replicator.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps({"ts": 1, "message": "first"}) + "\n")
    seen: list[str] = []

    def stop() -> bool:
        if len(seen) == 1:
            with path.open("a") as handle:
                handle.write(json.dumps({"ts": 2, "message": "second"}) + "\n")
        return len(seen) >= 2

    for entry in read_logs(tmp_path, follow=True, stop=stop, poll=0.01):
        seen.append(entry["message"])
    assert seen == ["first", "second"]


def test_since_takes_durations_and_iso_times() -> None:
    assert parse_since("10m", now=1000.0) == 400.0
    assert parse_since("1.5h", now=10_000.0) == 4600.0
    assert parse_since("1970-01-01T00:01:40", now=0) == 100.0
    with pytest.raises(ConfigError, match="--since 'yesterday'"):
        parse_since("yesterday", now=0)


def test_human_form_shows_where_what_and_context() -> None:
    entry = {
        "time": "T",
        "service": "us-west-2",
        "region": "us-west-2",
        "level": "INFO",
        "message": "re-driven",
        "file_id": "input/a.csv#v",
        "epoch": 2,
    }
    assert format_line(entry) == "T us-west-2 INFO re-driven  [file_id=input/a.csv#v epoch=2]"
