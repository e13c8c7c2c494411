"""The demo: the mission's happy path, end to end, on a fresh local stack.

Start both regions, upload a generated sample file through the access point, wait for the
active region to process it (split, chunk Map, merge, email), read the email, download the
output through the presigned link it carries, check it byte for byte against the pipeline
run directly, print a summary, and stop everything.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mrbatch.errors import ConfigError, MrBatchError
from mrbatch.handlers import naming
from mrbatch.job.runner import JobOptions, run_job
from mrbatch.model import FileStatus
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig, stack_config_file
from mrbatch.runtime.operations.stackinfo import access_point_client, mail_messages
from mrbatch.runtime.services.stack import start_stack
from mrbatch.runtime.wiring import open_region_store, open_tables

__all__ = ["DemoReport", "fresh_data_dir", "run_demo"]

_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class DemoReport:
    """What the demo saw."""

    input_key: str
    status: str
    region: str
    seconds_to_complete: float
    counts: dict[str, int]
    email_subject: str
    output_bytes: int
    output_matches_direct_run: bool


def fresh_data_dir(data_dir: Path) -> None:
    """Empty `data_dir` if it is a previous demo's (or empty); refuse anything else."""
    if data_dir.exists():
        if any(data_dir.iterdir()) and not stack_config_file(data_dir).exists():
            raise ConfigError(f"{data_dir} is not empty and not an mrbatch data directory")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)


def _wait_for_file(
    config: StackConfig, file_id: str, say: Callable[[str], None], timeout: float
) -> dict[str, Any]:
    """Poll the active region's batch state until the file is finished; report changes."""
    region = config.regions[0]
    deadline = time.monotonic() + timeout
    last = ""
    tables = open_tables(config, region)
    try:
        while time.monotonic() < deadline:
            item = tables.batch_state.get({"file_id": file_id}) or {}
            status = str(item.get("status", "waiting for the event"))
            if status != last:
                say(f"  {region}: {status}")
                last = status
            if status in (FileStatus.COMPLETED, FileStatus.FAILED):
                return item
            time.sleep(0.2)  # polling a human-facing progress display, not synchronisation
    finally:
        tables.close()
    raise MrBatchError(f"the file did not finish within {timeout:.0f} s; see {config.data_dir}")


def run_demo(
    data_dir: Path, *, rows: int, say: Callable[[str], None], timeout: float = 600.0
) -> DemoReport:
    """Run the demo in `data_dir` (wiped first) and return its report."""
    data_dir = data_dir.resolve()
    fresh_data_dir(data_dir)
    say(f"generating {rows} sample rows (1% invalid) ...")
    sample, financials = write_sample_files(data_dir / "sample", "testfile", rows, 1, 0.01)
    config = StackConfig(data_dir=data_dir, extra={"financials": str(financials)})
    say("starting the two-region stack ...")
    supervisor, record = start_stack(config)
    config = StackConfig.load(data_dir)
    try:
        say(f"  access point {record['gateway']}, active region {config.regions[0]}")
        started = time.monotonic()
        client = access_point_client(config)
        key = f"{naming.INPUT_PREFIX}{sample.name}"
        with sample.open("rb") as body:
            client.put_object(Bucket=config.bucket_alias, Key=key, Body=body)
        say(f"uploaded {key} through the access point; processing ...")
        file_id = _file_id_of(config, key)
        item = _wait_for_file(config, file_id, say, timeout)
        elapsed = time.monotonic() - started
        return _report(config, key, item, elapsed, sample, financials, say)
    finally:
        say("stopping the stack ...")
        supervisor.stop()
        config.stack_file.unlink(missing_ok=True)


def _file_id_of(config: StackConfig, key: str) -> str:
    """The file id of the uploaded version, found in the region that stored it."""
    for region in config.regions:
        try:
            info = open_region_store(config, region).head(key)
        except MrBatchError:
            continue
        return naming.file_id(key, info.version_id)
    raise MrBatchError(f"{key} is in no region after the upload")


def _report(
    config: StackConfig,
    key: str,
    item: dict[str, Any],
    elapsed: float,
    sample: Path,
    financials: Path,
    say: Callable[[str], None],
) -> DemoReport:
    messages = mail_messages(config.data_dir)
    if item.get("status") != FileStatus.COMPLETED or not messages:
        raise MrBatchError(
            f"the file ended {item.get('status')}: {item.get('error', '')} {item.get('cause', '')}"
        )
    message = messages[-1]
    say(f"email received: {message['subject']!r} to {message['to']}")
    url = _URL.search(message["body"])
    if url is None:
        raise MrBatchError("the email carries no link")
    downloaded = httpx.get(url.group(0), timeout=60).raise_for_status().content
    with tempfile.TemporaryDirectory() as scratch:
        run_job(sample, financials, scratch, options=JobOptions(chunk_size=config.chunk_size))
        direct = (Path(scratch) / sample.name).read_bytes()
    counts = {k: int(v) for k, v in dict(item.get("counts") or {}).items()}
    return DemoReport(
        input_key=key,
        status=str(item["status"]),
        region=str(item.get("completed_region", "")),
        seconds_to_complete=elapsed,
        counts=counts,
        email_subject=message["subject"],
        output_bytes=len(downloaded),
        output_matches_direct_run=downloaded == direct,
    )
