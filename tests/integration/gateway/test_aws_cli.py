"""The real aws CLI (v1) through the access point: cp up and down, cp and mv inside the
bucket, sync both ways, rm --recursive, with the CLI's default checksums."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EAST, Gateway


def test_aws_s3_cp_up_and_down(gateway: Gateway, tmp_path: Path) -> None:
    aws = shutil.which("aws")
    assert aws is not None, "the aws CLI must be installed for this test"
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": gateway.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": gateway.credentials.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    source = tmp_path / "sales.csv"
    source.write_bytes(b"uuid,Country\n" + b"".join(b"%d,France\n" % i for i in range(20000)))
    target = tmp_path / "back.csv"

    def aws_cli(*args: str) -> str:
        done = subprocess.run(
            [aws, "--endpoint-url", gateway.url, *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    aws_cli("s3", "cp", str(source), "s3://mrbatch/input/sales.csv")
    assert gateway.stores[EAST].get_bytes("input/sales.csv") == source.read_bytes()
    assert "sales.csv" in aws_cli("s3", "ls", "s3://mrbatch/input/")
    aws_cli("s3", "cp", "s3://mrbatch/input/sales.csv", str(target))
    assert target.read_bytes() == source.read_bytes()


@pytest.fixture
def aws_cli(gateway: Gateway, tmp_path: Path) -> Callable[..., str]:
    aws = shutil.which("aws")
    assert aws is not None, "the aws CLI must be installed for this test"
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": gateway.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": gateway.credentials.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [aws, "--endpoint-url", gateway.url, *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def _keys(gateway: Gateway) -> list[str]:
    return [info.key for info in gateway.stores[EAST].list()]


def test_aws_s3_cp_and_mv_inside_the_bucket(
    gateway: Gateway, aws_cli: Callable[..., str], tmp_path: Path
) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(b"x" * (9 * 1024 * 1024))  # multipart: the copy is UploadPartCopy
    aws_cli("s3", "cp", str(source), "s3://mrbatch/in/a.csv", "--content-type", "text/csv")
    aws_cli("s3", "cp", "s3://mrbatch/in/a.csv", "s3://mrbatch/copy/a.csv")
    aws_cli("s3", "mv", "s3://mrbatch/copy/a.csv", "s3://mrbatch/moved/a.csv")
    assert _keys(gateway) == ["in/a.csv", "moved/a.csv"]
    moved = gateway.stores[EAST].head("moved/a.csv")
    assert (moved.size, moved.headers.get("content-type")) == (source.stat().st_size, "text/csv")


def test_aws_s3_sync_both_ways_then_rm_recursive(
    gateway: Gateway, aws_cli: Callable[..., str], tmp_path: Path
) -> None:
    up, down = tmp_path / "up", tmp_path / "down"
    for name in ["a.csv", "sub/b.csv", "sub/deeper/c.csv"]:
        (up / name).parent.mkdir(parents=True, exist_ok=True)
        (up / name).write_bytes(name.encode() * 100)
    aws_cli("s3", "sync", str(up), "s3://mrbatch/tree")
    assert _keys(gateway) == ["tree/a.csv", "tree/sub/b.csv", "tree/sub/deeper/c.csv"]
    assert "upload" not in aws_cli("s3", "sync", str(up), "s3://mrbatch/tree")  # nothing new
    aws_cli("s3", "sync", "s3://mrbatch/tree", str(down))
    assert sorted(str(p.relative_to(down)) for p in down.rglob("*.csv")) == [
        "a.csv",
        "sub/b.csv",
        "sub/deeper/c.csv",
    ]
    assert (down / "sub/b.csv").read_bytes() == (up / "sub/b.csv").read_bytes()
    aws_cli("s3", "rm", "--recursive", "s3://mrbatch/tree/sub")
    assert _keys(gateway) == ["tree/a.csv"]


def test_aws_cli_default_checksums_are_kept_and_returned(
    aws_cli: Callable[..., str], tmp_path: Path
) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.bin"
    small.write_bytes(b"a,b\n" * 1000)
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # past the CLI's 8 MB multipart threshold
    aws_cli("s3", "cp", str(small), "s3://mrbatch/small.csv")
    aws_cli("s3", "cp", str(big), "s3://mrbatch/big.bin")
    for key in ("small.csv", "big.bin"):
        head = json.loads(
            aws_cli("s3api", "head-object", "--bucket", "mrbatch", "--key", key,
                    "--checksum-mode", "ENABLED")
        )  # fmt: skip
        assert {"ChecksumCRC32", "ChecksumType"} <= set(head), head
    aws_cli("s3", "cp", "s3://mrbatch/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
