"""A stack whose processes are down: a command that talks to it says in one line which
service does not answer and what to do, instead of a client library's traceback."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from detached import mrbatch

from mrbatch.pipeline.sample import write_sample_files


def test_submit_names_the_unreachable_access_point_when_the_stack_is_down(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "stack"
    data, _ = write_sample_files(tmp_path / "sample", "orders", 20, 1, 0.0)
    mrbatch("up", "--detach", "--data-dir", str(data_dir))
    try:
        mrbatch("down", "--data-dir", str(data_dir))
        result = mrbatch("submit", str(data), "--data-dir", str(data_dir), check=False)
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the access point at http://127.0.0.1:")
    assert "does not answer" in lines[0]
    assert "mrbatch status" in lines[0] and "mrbatch up --detach" in lines[0]


@pytest.fixture(scope="module")
def stopped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A stack that ran once (it has a config, tables, credentials) and is now down; and a
    sample file."""
    root = tmp_path_factory.mktemp("stopped")
    data_dir = root / "stack"
    data, _ = write_sample_files(root / "sample", "orders", 20, 1, 0.0)
    try:
        mrbatch("up", "--detach", "--data-dir", str(data_dir))
        mrbatch("down", "--data-dir", str(data_dir))
        yield data_dir, data
    finally:
        mrbatch("down", "--data-dir", str(data_dir), check=False)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "service"),
    [
        (["url", "orders.csv"], "access point"),
        (["dashboard", "--no-open"], "access point"),
        (["verify"], "access point"),
        (["loadtest", "--files", "1", "--timeout", "5"], "access point"),
        (["chaos", "block", "--region", "us-east-1", "--duration", "5s"], "region us-east-1"),
        (["chaos", "duplicate-events", "--region", "us-west-2"], "region us-west-2"),
        (["chaos", "replication", "--delay", "1s"], "replicator"),
    ],
)
def test_a_command_that_needs_the_running_stack_names_the_down_service(
    stopped_stack: tuple[Path, Path], args: list[str], service: str
) -> None:
    # Before: url and dashboard printed links nobody answers, verify reported every emailed
    # link as a violation, chaos recorded experiments on a stack that was not there, and
    # loadtest waited for the financial data for minutes.
    data_dir, _ = stopped_stack
    line = _one_error_line(mrbatch(*args, "--data-dir", str(data_dir), check=False))
    assert line.startswith(f"error: the {service} is down: no stack is running in {data_dir}")
    assert f"mrbatch up --detach --data-dir {data_dir}" in line


def test_chaos_on_a_stopped_stack_records_no_experiment(stopped_stack: tuple[Path, Path]) -> None:
    data_dir, _ = stopped_stack
    mrbatch("chaos", "block", "--region", "us-east-1", "--data-dir", str(data_dir), check=False)
    listed = mrbatch("chaos", "list", "--json", "--data-dir", str(data_dir))
    assert json.loads(listed.stdout) == []


def test_status_of_a_stopped_stack_says_it_is_not_running(
    stopped_stack: tuple[Path, Path],
) -> None:
    data_dir, _ = stopped_stack
    result = mrbatch("status", "--data-dir", str(data_dir))
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"stack: NOT RUNNING in {data_dir}"), result.stdout
    assert f"mrbatch up --detach --data-dir {data_dir}" in first


@pytest.mark.parametrize("command", ["status", "failover", "verify", "chaos list"])
def test_a_data_dir_that_is_a_file_is_a_usage_error_not_a_traceback(
    stopped_stack: tuple[Path, Path], command: str
) -> None:
    _, data = stopped_stack
    result = mrbatch(*command.split(), "--data-dir", str(data), check=False)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert "is a file" in result.stderr


def test_submit_of_a_directory_says_it_is_a_directory(stopped_stack: tuple[Path, Path]) -> None:
    data_dir, data = stopped_stack
    line = _one_error_line(
        mrbatch("submit", str(data.parent), "--data-dir", str(data_dir), check=False)
    )
    assert (
        line
        == f"error: {data.parent}: is a directory; give the files in it, e.g. {data.parent}/*.csv"
    )


def test_logs_of_an_unknown_region_is_an_error_not_silence(
    stopped_stack: tuple[Path, Path],
) -> None:
    data_dir, _ = stopped_stack
    line = _one_error_line(
        mrbatch("logs", "--region", "us-east-9", "--data-dir", str(data_dir), check=False)
    )
    assert line == "error: unknown region 'us-east-9'; this stack has us-east-1, us-west-2"


def test_logs_of_a_directory_without_a_stack_says_so(tmp_path: Path) -> None:
    line = _one_error_line(mrbatch("logs", "--data-dir", str(tmp_path), check=False))
    assert line.startswith(f"error: no mrbatch stack in {tmp_path}")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--financials", "missing.csv"), ("--schema", "missing.json"), ("--gateway-port", "99999")],
)
def test_up_refuses_a_bad_option_before_it_writes_or_starts_anything(
    tmp_path: Path, option: str, value: str
) -> None:
    # Before: a missing --financials started the stack and said the data was loading, a
    # missing --schema or an impossible port saved the config and failed in a child process
    # ("see supervisor.log"), and every later `up` in that directory failed the same way.
    data_dir = tmp_path / "stack"
    if value.startswith("missing"):
        value = str(tmp_path / value)
    result = mrbatch("up", "--detach", "--data-dir", str(data_dir), option, value, check=False)
    assert result.returncode == 2, result
    assert f"Invalid value for '{option}'" in result.stderr
    assert not data_dir.exists()


def test_up_checks_the_schema_before_it_writes_or_starts_anything(tmp_path: Path) -> None:
    # Before: the first region failed to start, `up` said "see supervisor.log", that log
    # said "see run/us-east-1.log", and config.json kept the bad schema for every later up.
    data_dir = tmp_path / "stack"
    schema = tmp_path / "schema.json"
    schema.write_text("not json")
    line = _one_error_line(
        mrbatch("up", "--detach", "--data-dir", str(data_dir), "--schema", str(schema), check=False)
    )
    assert line.startswith(f"error: schema {schema}: not JSON")
    assert not data_dir.exists()


def test_up_on_a_port_in_use_says_so_before_it_writes_or_starts_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["up", "--detach", "--data-dir", str(data_dir), "--gateway-port", port]
        line = _one_error_line(mrbatch(*args, check=False))
    assert line.startswith(f"error: the access point's port 127.0.0.1:{port} is not free")
    assert "--gateway-port 0 for a free one" in line
    assert not data_dir.exists()


def test_financials_load_on_a_stopped_stack_says_when_the_other_region_gets_them(
    stopped_stack: tuple[Path, Path], tmp_path: Path
) -> None:
    data_dir, _ = stopped_stack
    _, financials = write_sample_files(tmp_path / "fin", "f", 30, 1, 0.0)
    result = mrbatch("financials", "load", str(financials), "--data-dir", str(data_dir))
    assert "loaded 30 financial rows" in result.stdout
    assert "replication copies them" not in result.stdout
    assert "the stack is not running" in result.stdout
    assert f"mrbatch up --detach --data-dir {data_dir.resolve()}" in result.stdout
