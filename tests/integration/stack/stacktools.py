"""A real local stack (every process, real ports) in a temporary directory, and the helpers
tests use to drive it and check the correctness contract on it. Imported by the stack and
failover tests (on pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrbatch.errors import ObjectNotFoundError
from mrbatch.job.runner import JobOptions, run_job
from mrbatch.pipeline.sample import write_sample_files
from mrbatch.ports import ObjectStore
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.stackinfo import access_point_client, mail_messages
from mrbatch.runtime.services.stack import start_stack
from mrbatch.runtime.services.supervisor import Supervisor, wait_until
from mrbatch.runtime.wiring import open_region_store, open_tables

EAST, WEST = "us-east-1", "us-west-2"
MAIN = "main_orchestrator"
CHUNK_PROCESSOR = "chunk_processor_batched"


@dataclass
class Stack:
    """A running stack and helpers to drive it from a test."""

    config: StackConfig
    supervisor: Supervisor
    record: dict[str, Any]
    sample_dir: Path

    def upload(self, key: str, data: bytes) -> str:
        """PUT through the access point; returns the region that stored the object."""
        client = access_point_client(self.config)
        response = client.put_object(Bucket=self.config.bucket_alias, Key=key, Body=data)
        return str(response["ResponseMetadata"]["HTTPHeaders"]["x-mrbatch-region"])

    def item(self, region: str, file_id: str) -> dict[str, Any] | None:
        tables = open_tables(self.config, region)
        try:
            return tables.batch_state.get({"file_id": file_id})
        finally:
            tables.close()

    def file_id(self, key: str, region: str = EAST) -> str:
        """The file id of the latest version of `key` in `region`'s bucket."""
        version = open_region_store(self.config, region).head(key).version_id
        return f"{key}#{version}"

    def wait_status(self, region: str, file_id: str, status: str, timeout: float = 60) -> None:
        def reached() -> bool:
            item = self.item(region, file_id)
            return item is not None and item.get("status") == status

        wait_until(reached, timeout=timeout, what=f"{file_id} to be {status} in {region}")

    def statuses(self, region: str) -> dict[str, str]:
        """Every file version in `region`'s batch state table, with its status."""
        tables = open_tables(self.config, region)
        try:
            return {str(i["file_id"]): str(i["status"]) for i in tables.batch_state.scan()}
        finally:
            tables.close()

    def assert_nothing_lost(self, file_ids: list[str]) -> None:
        """Both regions' tables hold exactly these file versions, every one COMPLETED:
        none lost, none failed, no stray record."""
        wanted = dict.fromkeys(file_ids, "COMPLETED")

        def converged() -> bool:
            return all(self.statuses(region) == wanted for region in (EAST, WEST))

        with contextlib.suppress(TimeoutError):  # the asserts below show what differs
            self.wait(converged, "both tables to hold only the COMPLETED files")
        for region in (EAST, WEST):
            assert self.statuses(region) == wanted, region

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        wait_until(condition, timeout=timeout, what=what)

    def log(self, name: str) -> str:
        return (self.config.data_dir / "run" / f"{name}.log").read_text()

    def executions(self, region: str, machine: str = MAIN) -> list[dict[str, Any]]:
        """The region's executions of state machine `machine`, oldest first, as rows of the
        engine's `executions` table with `input`/`output` decoded."""
        with sqlite3.connect(self.config.workflows_db(region)) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT name, status, input, output, error FROM executions "
                "WHERE state_machine_arn LIKE ? ORDER BY start_date, name",
                (f"%:{machine}",),
            ).fetchall()
        return [
            {
                **dict(row),
                "input": json.loads(row["input"]),
                "output": json.loads(row["output"]) if row["output"] else None,
            }
            for row in rows
        ]

    def wait_settled(self, regions: tuple[str, ...] = (EAST, WEST), timeout: float = 60) -> None:
        """Wait until no main-orchestrator execution runs in `regions` (a region whose work
        was fenced stops it): only then can a late duplicate side effect be ruled out."""

        def settled() -> bool:
            return all(e["status"] != "RUNNING" for r in regions for e in self.executions(r))

        self.wait(settled, "every main-orchestrator execution to end", timeout)

    def emails(self, name: str) -> list[dict[str, str]]:
        """The mail sink's messages about the output `name` (e.g. `mid.csv`)."""
        return [
            m
            for m in mail_messages(self.config.data_dir)
            if f" {name} is processed" in m["subject"]
        ]

    def wait_object(self, region: str, key: str, expected: bytes, timeout: float = 60) -> None:
        """Wait until `region`'s bucket holds `expected` under `key` (replication lags)."""
        store = open_region_store(self.config, region)
        self.wait(lambda: read_or_none(store, key) == expected, f"{key} in {region}", timeout)

    def expected_output(self, tmp_path: Path, data: bytes, name: str) -> bytes:
        """What a single-region run of the pipeline (chunk size 100) writes for `data`."""
        source = tmp_path / "single-region" / "input" / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        run_job(
            source,
            self.sample_dir / "testfile_financial_data.csv",
            tmp_path / "single-region" / "output",
            options=JobOptions(chunk_size=100),
        )
        return (tmp_path / "single-region" / "output" / name).read_bytes()

    def assert_completed_once(
        self, key: str, file_id: str, expected: bytes, *, completed_in: str
    ) -> None:
        """The correctness contract for one file version, checked in both regions: COMPLETED
        (by `completed_in`) in both tables, one output object byte-identical to `expected`,
        one email, and exactly one successful main-orchestrator execution, in
        `completed_in`. Call after `wait_settled`."""
        name = key.removeprefix("input/")
        version = file_id.rsplit("#", 1)[1]
        output = f"output/completed/{version}/{name}"  # written out: the oracle for naming
        for region in (EAST, WEST):
            self.wait_status(region, file_id, "COMPLETED")
            item = self.item(region, file_id)
            assert item is not None
            assert item["completed_region"] == completed_in
            self.wait_object(region, output, expected)
            store = open_region_store(self.config, region)
            assert [i.key for i in store.list("output/completed/")].count(output) == 1
        # one email about this version (other versions of the key have their own)
        assert len([m for m in self.emails(name) if f"(version {version})" in m["body"]]) == 1
        succeeded = [
            (region, e["name"])
            for region in (EAST, WEST)
            for e in self.executions(region)
            if e["status"] == "SUCCEEDED" and e["input"]["fileId"] == file_id
        ]
        assert [region for region, _ in succeeded] == [completed_in]


def read_or_none(store: ObjectStore, key: str) -> bytes | None:
    """The object's bytes, or None while it is not there."""
    try:
        return store.get_bytes(key)
    except ObjectNotFoundError:
        return None


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
