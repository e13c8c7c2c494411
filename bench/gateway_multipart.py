"""Benchmark uploads through the access point with the real aws CLI: a 100 MB file copied
with `aws s3 cp` (default settings: multipart, 8 MB parts, 10 at a time), the same file as
one PutObject (multipart threshold raised above its size), and the download.

    .venv/bin/python bench/gateway_multipart.py [--size-mb 100] [--runs 3]

The gateway runs in this process (uvicorn in a thread) over two LocalObjectStores and a
SQLite routing control in a temporary directory, as the stack's gateway process does; the
CLI is a separate process, so its own start-up (~0.5 s) is part of each figure. Prints the
best and median MB/s of each mode (MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app, generate_credentials
from mrbatch.routing.local import SqliteRoutingControl
from mrbatch.storage.local import LocalObjectStore

REGIONS = ("us-east-1", "us-west-2")


def _cli_env(work: Path, access_key: str, secret: str, *, single_put: bool) -> dict[str, str]:
    config = work / ("single.cfg" if single_put else "default.cfg")
    lines = ["[default]", "region = us-east-1", "s3 =", "    addressing_style = path"]
    if single_put:
        lines.append("    multipart_threshold = 5GB")
    config.write_text("\n".join(lines) + "\n")
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-credentials"),
    }


def _timed_cp(aws: str, url: str, env: dict[str, str], source: str, target: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [aws, "--endpoint-url", url, "s3", "cp", "--only-show-errors", source, target],
        env=env, check=True, timeout=600,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    aws = shutil.which("aws")
    if aws is None:
        raise SystemExit("the aws CLI is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stores = {r: LocalObjectStore(work / r, bucket=f"mrbatch-{r}") for r in REGIONS}
        access_point = AccessPoint(stores, SqliteRoutingControl(work / "control.db", REGIONS))
        credentials = generate_credentials()
        app = build_app(access_point, [credentials], multipart_dir=work / "multipart")
        source = work / "big.bin"
        source.write_bytes(os.urandom(args.size_mb * 1_000_000))
        size_mb = source.stat().st_size / 1e6
        with GatewayServer(app) as server:
            keys = credentials.access_key_id, credentials.secret_access_key
            modes = {
                "upload, multipart (CLI default)": (False, str(source), "s3://mrbatch/b.bin"),
                "upload, one PutObject": (True, str(source), "s3://mrbatch/b.bin"),
                "download": (False, "s3://mrbatch/b.bin", str(work / "back.bin")),
            }
            for name, (single, src, dst) in modes.items():
                env = _cli_env(work, *keys, single_put=single)
                times = [_timed_cp(aws, server.url, env, src, dst) for _ in range(args.runs)]
                rates = [size_mb / t for t in times]
                print(
                    f"{name:34s} {size_mb:.0f} MB: best {max(rates):6.1f} MB/s, "
                    f"median {statistics.median(rates):6.1f} MB/s"
                )


if __name__ == "__main__":
    main()
