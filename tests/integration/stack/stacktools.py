"""A real local stack (every process, real ports) in a temporary directory, and the helpers
tests use to drive it. Imported by the stack tests (on pytest's pythonpath)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrbatch.pipeline.sample import write_sample_files
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations import access_point_client
from mrbatch.runtime.stack import start_stack
from mrbatch.runtime.supervisor import Supervisor, wait_until
from mrbatch.runtime.wiring import open_region_store, open_tables

EAST, WEST = "us-east-1", "us-west-2"


@dataclass
class Stack:
    """A running stack and helpers to drive it from a test."""

    config: StackConfig
    supervisor: Supervisor
    record: dict[str, Any]
    sample_dir: Path

    def upload(self, key: str, data: bytes) -> None:
        client = access_point_client(self.config)
        client.put_object(Bucket=self.config.bucket_alias, Key=key, Body=data)

    def item(self, region: str, file_id: str) -> dict[str, Any] | None:
        tables = open_tables(self.config, region)
        try:
            return tables.batch_state.get({"file_id": file_id})
        finally:
            tables.close()

    def file_id(self, key: str) -> str:
        version = open_region_store(self.config, EAST).head(key).version_id
        return f"{key}#{version}"

    def wait_status(self, region: str, file_id: str, status: str, timeout: float = 60) -> None:
        def reached() -> bool:
            item = self.item(region, file_id)
            return item is not None and item.get("status") == status

        wait_until(reached, timeout=timeout, what=f"{file_id} to be {status} in {region}")

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        wait_until(condition, timeout=timeout, what=what)

    def log(self, name: str) -> str:
        return (self.config.data_dir / "run" / f"{name}.log").read_text()


@contextmanager
def running_stack(data_dir: Path, **settings: Any) -> Iterator[Stack]:
    """Start a stack with a 600-row sample's financial data in `data_dir`; stop it after."""
    sample_dir = data_dir / "sample"
    _, financials = write_sample_files(sample_dir, "testfile", 600, 7, 0.05)
    config = StackConfig(
        data_dir=data_dir, chunk_size=100, extra={"financials": str(financials)}, **settings
    )
    supervisor, record = start_stack(config)
    try:
        yield Stack(StackConfig.load(data_dir), supervisor, record, sample_dir)
    finally:
        supervisor.stop()
