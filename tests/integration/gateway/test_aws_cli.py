"""The real aws CLI (v1) copies a file up and down through the access point."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
