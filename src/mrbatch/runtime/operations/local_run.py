"""One region on one machine, in one process: what `mrbatch run-local` runs a file through.

`LocalRun` builds a `Region` over a data directory (a directory-backed object store, SQLite
tables, routing control, metrics), starts what the workflows call over the network in
this process (a `MailSink` for the email step; for the per-record processor the enrichment
API on 127.0.0.1, over a financial table loaded from the financial CSV), creates the three
state machines in an `Engine`, and drives a file through the trigger's `drive_file`, as a
region would. The handlers run in process (`in_process=True`) on the region installed
with `set_current_region`, so no environment or endpoints file is needed.

    with LocalRun(Path(".mrbatch/run-local"), Path("fin.csv")) as run:
        outcome = run.process(Path("input.csv"))
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from mrbatch.accesspoint.credentials import generate_credentials
from mrbatch.accesspoint.iam import IamAuth
from mrbatch.accesspoint.server import GatewayServer
from mrbatch.asl import Engine
from mrbatch.atomic import atomic_writer
from mrbatch.enrichment.api import build_app, read_financial_csv
from mrbatch.errors import ConfigError, InputFileError
from mrbatch.handlers import naming
from mrbatch.handlers.integrations import (
    RegionResources,
    StoreObjects,
    create_state_machines,
    orchestrator_listener,
)
from mrbatch.handlers.integrations import register_region_resources as register_resources
from mrbatch.handlers.per_record import check_chunk_size
from mrbatch.handlers.region import Region, set_current_region
from mrbatch.handlers.trigger import drive_file
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.notify.sink import MailSink
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.pipeline import DEFAULT_CHUNK_SIZE, CsvFinancialSource, FinancialSource, load_rules
from mrbatch.ports import ObjectStore
from mrbatch.routing.local import SqliteRoutingControl
from mrbatch.state import RegionTables, open_region_tables
from mrbatch.storage.local import LocalObjectStore

__all__ = ["REGION", "LocalRun", "RunOutcome"]

REGION = "local"
_STANDBY = "local-standby"  # the routing control wants two regions; this one never works
_NO_API = "http://127.0.0.1:9"  # the batched processor never calls the enrichment API


@dataclass(frozen=True)
class RunOutcome:
    """What one file's run did."""

    status: str
    file_id: str
    execution_arn: str
    output_key: str | None
    errors_key: str | None
    counts: dict[str, int] | None
    output_file: str | None
    errors_file: str | None
    error: str | None
    cause: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LocalRun:
    """A single local region in this process (see the module doc). Use as a context
    manager, or call `close()`."""

    def __init__(
        self,
        data_dir: Path,
        financials: Path,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        per_record: bool = False,
        schema: Path | None = None,
        timeout: float = 3600.0,
    ) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
        if per_record:
            check_chunk_size(chunk_size)
        self.data_dir, self.per_record, self.timeout = data_dir, per_record, timeout
        data_dir.mkdir(parents=True, exist_ok=True)
        self._closers: list[Any] = []
        try:
            self._open(financials, chunk_size, schema)
        except BaseException:
            self.close()
            raise

    def _open(self, financials: Path, chunk_size: int, schema: Path | None) -> None:
        tables = open_region_tables(self.data_dir / "tables.db", origin=REGION)
        self._closers.append(tables)
        self.tables = tables
        # this run's own credentials: the mail sink and the enrichment API take only them
        self.credentials = generate_credentials()
        sink = MailSink(self.data_dir / "mail", credentials=self.credentials).start()
        self._closers.append(sink)
        self.mail = sink
        api_url = self._start_api(tables, financials) if self.per_record else _NO_API
        self.region = self._region(tables, sink, _source(financials), chunk_size, schema)
        set_current_region(self.region)
        self.engine = Engine(
            self.data_dir / "workflows.db",
            workers=1,
            region="us-east-1",
            objects=StoreObjects(self.region.store),  # the chunk Map reads the manifest
            listeners=[orchestrator_listener(self.region)],  # every end recorded on the file
        )
        self._closers.append(self.engine)
        self._resources: RegionResources = register_resources(
            self.engine.resources,
            self.region,
            in_process=True,
            role_auth=IamAuth(self.credentials, region=REGION),
        )
        self._closers.append(self._resources)
        self.arns = create_state_machines(
            self.engine,
            enrichment_endpoint=api_url,
            error_table=tables.errors.name,
            per_record=self.per_record,
        )

    def _start_api(self, tables: RegionTables, financials: Path) -> str:
        """Load the financial CSV into the financial table and serve the enrichment API."""
        for row in read_financial_csv(financials):
            tables.financials.put(dict(row))
        app = build_app(tables.financials, region=REGION, credentials=[self.credentials])
        server = GatewayServer(app).start()
        self._closers.append(server)
        return server.url

    def _region(
        self,
        tables: RegionTables,
        sink: MailSink,
        financials: FinancialSource,
        chunk_size: int,
        schema: Path | None,
    ) -> Region:
        exported = self.data_dir / "files"
        store = LocalObjectStore(self.data_dir / "bucket", bucket="mrbatch-local")
        routing = SqliteRoutingControl(self.data_dir / "control.db", (REGION, _STANDBY))
        notifier = SmtpNotifier.for_sink(
            "127.0.0.1", sink.port, self.credentials, ledger_path=self.data_dir / "mail.db"
        )
        metrics = SqliteMetrics(self.data_dir / "metrics.db")
        self._closers.extend((store, routing, notifier, metrics))
        return Region(
            name=REGION,
            store=store,
            batch_state=tables.batch_state,
            errors=tables.errors,
            routing=routing,
            notifier=notifier,
            metrics=metrics,
            financials=financials,
            rules=load_rules(schema),
            chunk_size=chunk_size,
            sender="mrbatch@localhost",
            recipients=("batch-owner@localhost",),
            presign=lambda key: ((exported / key).resolve().as_uri(), 0),
        )

    def process(self, source: Path, *, key: str | None = None) -> RunOutcome:
        """Upload `source` as `input/<name>` (or `key`), run the main orchestrator over it,
        and copy its output and errors objects to `<data_dir>/files/<key>`."""
        started = time.perf_counter()
        key = key or f"{naming.INPUT_PREFIX}{source.name}"
        try:
            with source.open("rb") as body:
                info = self.region.store.put(key, body)
        except OSError as exc:
            raise InputFileError(str(source), f"cannot be read: {exc.strerror or exc}") from exc
        outcome = drive_file(
            region=REGION,
            key=key,
            version_id=info.version_id,
            batch_state=self.region.batch_state,
            routing=self.region.routing,
            start=lambda name, payload: self.engine.start_execution(
                self.arns["main_orchestrator"], payload, name=name
            ),
            suffixes=(),  # a file named on the command line is processed whatever its name
        )
        if outcome.execution_arn is None:
            raise ConfigError(f"{key}: the trigger did not start a run ({outcome.action})")
        record = self.engine.wait_for(outcome.execution_arn, timeout=self.timeout)
        merged = (record.output or {}).get("merge") if isinstance(record.output, dict) else None
        files = self._export(merged) if merged else (None, None)
        return RunOutcome(
            status=record.status.value,
            file_id=outcome.file_id,
            execution_arn=record.arn,
            output_key=merged["output"] if merged else None,
            errors_key=merged["errors"] if merged else None,
            counts=merged["counts"] if merged else None,
            output_file=files[0],
            errors_file=files[1],
            error=record.error,
            cause=record.cause,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _export(self, merged: dict[str, Any]) -> tuple[str, str]:
        paths = []
        for key in (merged["output"], merged["errors"]):
            target = self.data_dir / "files" / key
            _copy_out(self.region.store, key, target)
            paths.append(str(target))
        return paths[0], paths[1]

    def close(self) -> None:
        """Stop the engine, the servers and close the databases (idempotent)."""
        set_current_region(None)
        while self._closers:
            closer = self._closers.pop()
            closer.stop() if hasattr(closer, "stop") else closer.close()

    def __enter__(self) -> LocalRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _source(path: Path) -> FinancialSource:
    return CsvFinancialSource.from_path(path)


def _copy_out(store: ObjectStore, key: str, target: Path) -> None:
    """Copy an object to a plain file, atomically."""
    _info, body = store.get(key)
    with body, atomic_writer(target) as out:
        shutil.copyfileobj(body, out, 1 << 20)
