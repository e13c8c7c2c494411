"""Builds a region's ports for the local target: the composition root of a region.

The supervisor publishes what the regions need to reach the shared services in
`<data_dir>/endpoints.json` (the access point's URL and credentials, the mail sink's
port) before it starts the region processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrbatch.accesspoint import Credentials, generate_credentials, presign_get_url
from mrbatch.atomic import atomic_write_json
from mrbatch.enrichment.table import TableFinancialSource
from mrbatch.handlers.drill import FileBreakpoints
from mrbatch.handlers.region import Region
from mrbatch.metrics.local import SqliteMetrics
from mrbatch.notify.smtp import SmtpNotifier
from mrbatch.pipeline import load_rules
from mrbatch.routing.local import SqliteRoutingControl
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.faults import (
    FaultSwitch,
    FaultyFinancialSource,
    FaultyNotifier,
    FaultyObjectStore,
    FaultyTable,
)
from mrbatch.runtime.files import read_json
from mrbatch.runtime.replication.changefeed import ChangeFeed
from mrbatch.runtime.replication.recorded_store import RecordedObjectStore
from mrbatch.state import RegionTables, open_region_tables
from mrbatch.storage.local import LocalObjectStore

__all__ = [
    "LocalRegionSpec",
    "credentials_file",
    "endpoints_file",
    "ensure_credentials",
    "fault_switch",
    "load_credentials",
    "open_local_region",
    "open_region_store",
    "open_routing",
    "read_endpoints",
    "write_endpoints",
]


def endpoints_file(config: StackConfig) -> Path:
    return config.endpoints_file


def write_endpoints(config: StackConfig, record: dict[str, Any]) -> None:
    atomic_write_json(endpoints_file(config), record)


def read_endpoints(config: StackConfig) -> dict[str, Any]:
    return read_json(endpoints_file(config))


def credentials_file(config: StackConfig) -> Path:
    return config.credentials_file


def ensure_credentials(config: StackConfig) -> Credentials:
    """The stack's local credentials, generated (and saved, owner-only) on first use."""
    path = credentials_file(config)
    if path.exists():
        return load_credentials(config)
    credentials = generate_credentials()
    atomic_write_json(
        path,
        {
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
        },
    )
    path.chmod(0o600)
    return credentials


def load_credentials(config: StackConfig) -> Credentials:
    record = read_json(credentials_file(config))
    return Credentials(record["access_key_id"], record["secret_access_key"])


def open_region_store(config: StackConfig, region: str) -> RecordedObjectStore:
    """The region's bucket, recording every put in its change feed."""
    inner = LocalObjectStore(config.bucket_dir(region), bucket=f"{config.bucket_alias}-{region}")
    return RecordedObjectStore(inner, ChangeFeed(config.feed_db(region)))


def open_routing(config: StackConfig) -> SqliteRoutingControl:
    return SqliteRoutingControl(config.control_db, config.regions)


def open_tables(config: StackConfig, region: str) -> RegionTables:
    return open_region_tables(config.tables_db(region), origin=region)


def fault_switch(config: StackConfig, region: str, *, hang: bool = True) -> FaultSwitch:
    """The chaos blocks in force for `region` (`mrbatch chaos block`)."""
    return FaultSwitch(config.faults_file, region, hang=hang)


def open_local_region(data_dir: Path, region: str) -> Region:
    """Every port of `region` in the stack at `data_dir`. Handlers enrich straight from the
    region's financial table, as they do on AWS (`mrbatch.aws.spec`): each worker looks its
    chunk up itself, in parallel, where a lookup through the region's enrichment API ran on
    that server's one thread while the workers waited (105.8 s of a 10M-row file's 149.7 s).
    Each dependency goes through its chaos wrapper, which fails only while an experiment
    blocks it (`mrbatch.runtime.faults`; the enrichment's is the `api` target)."""
    config = StackConfig.load(data_dir)
    config.check_region(region)
    endpoints = read_endpoints(config)
    tables = open_tables(config, region)
    credentials = load_credentials(config)
    faults = fault_switch(config, region)
    financials = TableFinancialSource(tables.financials)

    def presign(key: str) -> tuple[str, int]:
        expiry = config.presign_expiry_seconds
        url = presign_get_url(
            endpoints["gateway"], config.bucket_alias, key, credentials, expires_in=expiry
        )
        return url, expiry

    return Region(
        name=region,
        store=FaultyObjectStore(open_region_store(config, region), faults),
        batch_state=FaultyTable(tables.batch_state, faults),
        errors=FaultyTable(tables.errors, faults),
        routing=open_routing(config),
        notifier=FaultyNotifier(
            SmtpNotifier.for_sink(
                "127.0.0.1",
                int(endpoints["smtp_port"]),
                credentials,
                ledger_path=config.mail_ledger_db,
            ),
            faults,
        ),
        metrics=SqliteMetrics(config.metrics_db),
        financials=FaultyFinancialSource(financials, faults),
        rules=load_rules(config.extra.get("schema")),
        chunk_size=config.chunk_size,
        sender=config.sender,
        recipients=config.recipients,
        presign=presign,
        breakpoints=FileBreakpoints(config.run_dir),
    )


@dataclass(frozen=True)
class LocalRegionSpec:
    """A `RegionSpec` for one region of the local stack at `data_dir` (picklable: the
    region process hands it to its worker pool, whose workers build the region from it)."""

    data_dir: Path
    region: str

    def build(self) -> Region:
        """See `mrbatch.handlers.region.RegionSpec.build`."""
        return open_local_region(self.data_dir, self.region)
