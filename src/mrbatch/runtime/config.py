"""Settings of a local two-region stack, and where each piece keeps its files.

Everything a stack owns lives under one data directory, one sub-folder per region, so
`rm -rf` of that directory is a complete reset and two stacks never share a file:

    <data_dir>/
      config.json                 these settings
      credentials.json            the stack's access key (owner-only)
      endpoints.json              the access point's URL and the mail sink's port
      stack.json                  endpoints, credentials, pids of a running stack
      control.db                  routing control (one strongly consistent store)
      takeovers.db                which epochs have been reconciled, with the results
      runbooks.db                 runbook executions and their steps
      metrics.db                  metrics of both regions
      mail.db                     the notifier's ledger (one email per idempotency key)
      chaos.db                    chaos experiments: what, where, started and ended when
      mail/                       .eml files received by the mail sink
      supervisor.log              the detached supervisor's output
      logs/<service>.jsonl        every process's structured log (`mrbatch logs`)
      run/                        process state: ready files, logs, multipart staging,
                                  replication status and pauses, drill breakpoints,
                                  the chaos blocks in force (faults.json)
      <region>/bucket/            the region's object store
      <region>/tables.db          batch state, errors, financials (SQLite, WAL)
      <region>/feed.db            the bucket's change feed (events + replication queue)
      <region>/workflows.db       the region's workflow engine: executions and history

Every path is a property or method of `StackConfig` (or `stack_paths(data_dir)` where only
the directory is known): no other module spells a file name of the data directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mrbatch.atomic import atomic_write_json
from mrbatch.errors import ConfigError

__all__ = [
    "DEFAULT_REGIONS",
    "STACK_CHUNK_SIZE",
    "StackConfig",
    "stack_config_file",
    "stack_file",
    "stack_logs_dir",
    "stack_run_dir",
]

DEFAULT_REGIONS: tuple[str, str] = ("us-east-1", "us-west-2")

STACK_CHUNK_SIZE = 25_000
"""Records per chunk in a stack (the batched chunk processor): as many as a `mrbatch
process` batch. A chunk costs a fixed ~15 ms of the region's CPU (its child execution, the
enrichment request, three object puts, the errors rows) whatever its size, which at 1,000
rows was two thirds of the work (docs/performance.md, "Through the stack"). Unlike the
per-record processor's (`handlers.per_record.MAX_CHUNK_SIZE`), its history does not grow
with the chunk, so there is no cap; a chunk's memory in a worker is a few tens of MB."""


def stack_config_file(data_dir: Path) -> Path:
    """The settings file of the stack in `data_dir` (known before the settings are)."""
    return data_dir / "config.json"


def stack_file(data_dir: Path) -> Path:
    """`stack.json` of the stack in `data_dir`: present while a stack runs there."""
    return data_dir / "stack.json"


def stack_logs_dir(data_dir: Path) -> Path:
    """Where every process of the stack in `data_dir` writes its JSON log."""
    return data_dir / "logs"


def stack_run_dir(data_dir: Path) -> Path:
    """The process-state folder of the stack in `data_dir` (drill breakpoints live here)."""
    return data_dir / "run"


@dataclass(frozen=True)
class StackConfig:
    """Frozen settings shared by every process of a stack."""

    data_dir: Path
    regions: tuple[str, str] = DEFAULT_REGIONS
    bucket_alias: str = "mrbatch"
    replication_delay_seconds: float = 0.0
    replication_sla_seconds: float = 900.0
    chunk_size: int = STACK_CHUNK_SIZE
    # files a region runs at once; the rest wait, in arrival order, in its admission queue
    # (runtime/services/admission.py; the default is measured in docs/performance.md)
    max_files_in_flight: int = 4
    recipients: tuple[str, ...] = ("batch-owner@example.com",)
    sender: str = "mrbatch@example.com"
    presign_expiry_seconds: int = 3600
    gateway_port: int = 0
    smtp_port: int = 0
    # keys under input/ that are processed (the AWS sample filters its S3 events on .csv);
    # compared without case; empty: every key under input/
    input_suffixes: tuple[str, ...] = (".csv",)
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.regions)) != 2:
            raise ConfigError(f"exactly two distinct regions are needed, got {self.regions!r}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk size must be at least 1, got {self.chunk_size}")
        if self.max_files_in_flight < 1:
            raise ConfigError(
                f"max files in flight must be at least 1, got {self.max_files_in_flight}"
            )
        if self.replication_delay_seconds < 0:
            raise ConfigError("replication delay cannot be negative")

    def check_region(self, region: str) -> str:
        """Return `region` if it is one of the stack's regions, else raise ConfigError."""
        if region not in self.regions:
            raise ConfigError(
                f"unknown region {region!r}; this stack has {', '.join(self.regions)}"
            )
        return region

    def peer_of(self, region: str) -> str:
        """The other region."""
        self.check_region(region)
        return self.regions[1] if region == self.regions[0] else self.regions[0]

    # --- persistence: every process of a stack reads the same file ---------------------

    @property
    def config_file(self) -> Path:
        return stack_config_file(self.data_dir)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["data_dir"] = str(self.data_dir)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> StackConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(record) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values = dict(record)
        values["data_dir"] = Path(values["data_dir"])
        for name in ("regions", "recipients", "input_suffixes"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def save(self) -> None:
        """Write the settings into the data directory (atomically)."""
        atomic_write_json(self.config_file, self.to_dict())

    @classmethod
    def load(cls, data_dir: Path) -> StackConfig:
        """The settings saved in `data_dir`; ConfigError when there are none."""
        path = stack_config_file(data_dir)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"no mrbatch stack in {data_dir} (no config.json); start one with"
                f" `mrbatch up --detach --data-dir {data_dir}`, or pass the --data-dir"
                " (or MRBATCH_DATA_DIR) of an existing one"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_dict(record)

    @property
    def control_db(self) -> Path:
        return self.data_dir / "control.db"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / "endpoints.json"

    @property
    def takeovers_db(self) -> Path:
        return self.data_dir / "takeovers.db"

    @property
    def runbooks_db(self) -> Path:
        return self.data_dir / "runbooks.db"

    @property
    def metrics_db(self) -> Path:
        return self.data_dir / "metrics.db"

    @property
    def mail_ledger_db(self) -> Path:
        return self.data_dir / "mail.db"

    @property
    def chaos_db(self) -> Path:
        """The record of every chaos experiment (`mrbatch chaos`), shown on the dashboard."""
        return self.data_dir / "chaos.db"

    @property
    def faults_file(self) -> Path:
        """The chaos blocks in force, read by every region process (`runtime/faults.py`)."""
        return self.run_dir / "faults.json"

    @property
    def supervisor_log(self) -> Path:
        return self.data_dir / "supervisor.log"

    @property
    def multipart_dir(self) -> Path:
        return self.run_dir / "multipart"

    @property
    def replication_status_file(self) -> Path:
        return self.run_dir / "replication.json"

    def ready_file(self, service: str) -> Path:
        """Where service `service` reports that it is ready (pid, endpoints)."""
        return self.run_dir / f"{service}.json"

    def log_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.log"

    @property
    def stack_file(self) -> Path:
        return stack_file(self.data_dir)

    @property
    def run_dir(self) -> Path:
        """Process state of a running stack: ready files, logs, drill breakpoints."""
        return stack_run_dir(self.data_dir)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def region_dir(self, region: str) -> Path:
        return self.data_dir / self.check_region(region)

    def bucket_dir(self, region: str) -> Path:
        return self.region_dir(region) / "bucket"

    def tables_db(self, region: str) -> Path:
        return self.region_dir(region) / "tables.db"

    def feed_db(self, region: str) -> Path:
        return self.region_dir(region) / "feed.db"

    def workflows_db(self, region: str) -> Path:
        return self.region_dir(region) / "workflows.db"
