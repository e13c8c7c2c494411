"""Reading a stack from the outside for the checker (`mrbatch verify`).

`collect` takes a `Snapshot` through what the stack exposes: the buckets and tables (as any
reader of those files would), the routing history, the mail sink's mailbox, the links in
the emails (fetched over HTTP like a user), the workflow histories (read-only) and the
services' pids. `verify_stack` adds the reference outputs (with `deep`: `mrbatch process`
of each completed version's input with the stack's financial data) and runs the check.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from mrbatch.errors import ObjectNotFoundError
from mrbatch.handlers import naming
from mrbatch.job import JobOptions, run_job
from mrbatch.notify.sink import read_mailbox
from mrbatch.pipeline import FINANCIAL_COLUMNS
from mrbatch.ports import ObjectStore
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.verify import (
    Email,
    Reference,
    Snapshot,
    Violation,
    check,
    link_in,
)
from mrbatch.runtime.services.supervision import running_stack_record
from mrbatch.runtime.wiring import open_region_store, open_routing, open_tables
from mrbatch.state.db import query_read_only

__all__ = ["collect", "verify_stack"]


def collect(config: StackConfig, *, fetch_links: bool = True) -> Snapshot:
    """Everything `check` looks at, read from the stack in `config.data_dir`."""
    snapshot = Snapshot()
    for region in config.regions:
        store = open_region_store(config, region)
        snapshot.inputs[region] = {
            naming.file_id(info.key, info.version_id or store.head(info.key).version_id)
            for info in store.list(naming.INPUT_PREFIX)
            if naming.is_input(info.key, config.input_suffixes)
        }
        tables = open_tables(config, region)
        try:
            snapshot.items[region] = {str(i["file_id"]): i for i in tables.batch_state.scan()}
        finally:
            tables.close()
        snapshot.outputs[region] = _outputs(store, snapshot.items[region].values())
        snapshot.running += [
            f"{region}:{name}"
            for (name,) in query_read_only(
                config.workflows_db(region),
                "SELECT name FROM executions WHERE status = 'RUNNING' ORDER BY name",
            )
        ]
    snapshot.routing = {s.epoch: s.active_region for s in open_routing(config).history()}
    for message in read_mailbox(config.mail_dir):
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        # a long key is folded onto the next line: unfolded, it keeps a leading space
        key = str(message["X-Mrbatch-Idempotency-Key"] or "").strip()
        snapshot.emails.append(Email(key, text))
    if fetch_links:
        snapshot.links = _fetch_links(snapshot.emails)
    snapshot.services = _services(config)
    return snapshot


def _outputs(store: ObjectStore, items: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    """The bytes of every output object the items name, where `store` has it."""
    found: dict[str, bytes] = {}
    for item in items:
        key = item.get("output")
        if key:
            try:
                found[str(key)] = store.get_bytes(str(key))
            except ObjectNotFoundError:
                continue
    return found


def _fetch_links(emails: list[Email]) -> dict[str, bytes | None]:
    """Each email's link -> the bytes it serves (None when it does not answer 200)."""
    links: dict[str, bytes | None] = {}
    with httpx.Client(timeout=30) as client:
        for email in emails:
            url = link_in(email.body)
            if url is None or url in links:
                continue
            try:
                response = client.get(url)
            except httpx.HTTPError:
                links[url] = None
                continue
            links[url] = response.content if response.status_code == 200 else None
    return links


def _services(config: StackConfig) -> dict[str, bool]:
    """Service name -> alive, for the stack running in the data directory ({} if none)."""
    record = running_stack_record(config.data_dir)
    if record is None:
        return {}
    alive = {}
    for name, pid in record.get("pids", {}).items():
        try:
            os.kill(int(pid), 0)
            alive[name] = True
        except OSError:
            alive[name] = False
    return alive


def _reference(config: StackConfig, scratch: Path) -> Reference:
    """file id -> what `mrbatch process` writes for that version's input, with the financial
    data of the active region's table (None when the input version is not in any bucket)."""
    financials = scratch / "financials.csv"
    active = open_routing(config).state().active_region
    tables = open_tables(config, active)
    try:
        with financials.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(FINANCIAL_COLUMNS)
            for item in tables.financials.scan():
                writer.writerow([item.get(column, "") for column in FINANCIAL_COLUMNS])
    finally:
        tables.close()

    def expected(file_id: str) -> bytes | None:
        key, _, version = file_id.rpartition("#")
        for region in config.regions:
            store = open_region_store(config, region)
            try:
                info = store.head(key)
            except ObjectNotFoundError:
                continue
            if info.version_id == version:
                source = scratch / version / Path(key).name
                source.parent.mkdir(parents=True, exist_ok=True)
                source.write_bytes(store.get_bytes(key))
                options = JobOptions(chunk_size=config.chunk_size, workers=1)
                summary = run_job(source, financials, source.parent / "out", options=options)
                return Path(summary.output).read_bytes()
        return None

    return expected


def verify_stack(config: StackConfig, *, deep: bool = True) -> list[Violation]:
    """Every violation of the contract in the stack (see `mrbatch.runtime.operations.verify`).
    With `deep`, each completed output is also compared with `mrbatch process`."""
    snapshot = collect(config)
    if not deep:
        return check(snapshot)
    with tempfile.TemporaryDirectory() as scratch:
        return check(snapshot, _reference(config, Path(scratch)))
