"""Injected outages of a region's dependencies (`mrbatch chaos block`), seen through its ports.

An experiment blocks one region's access to its object store, its tables, its enrichment
API or its mail server for a while, as AWS FIS blocks a region's access to S3 or DynamoDB.
The blocks in force are a small JSON file (`StackConfig.faults_file`) that `mrbatch chaos`
writes atomically; every process of the region reads it through a `FaultSwitch`, which
re-reads the file only when its mtime or size changed (one `stat` per port call). Each
block carries its end time, so the region recovers by itself when it passes, whatever
happened to the process that started the experiment.

The wrappers raise exactly what a real outage of that dependency raises (StorageError,
TableError, EnrichmentUnavailableError, MailError), so the workflows' retries, the
handlers' error paths and the health checks meet a real failure, not a special case.
In `timeout` mode a call first hangs, as a connection to an unreachable host does, then
fails.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from mrbatch.atomic import atomic_write_json
from mrbatch.enrichment.api import EnrichmentUnavailableError
from mrbatch.errors import MailError, MrBatchError, StorageError, TableError
from mrbatch.model import FinancialRecord
from mrbatch.ports import (
    Condition,
    FinancialSource,
    Item,
    ListPage,
    Notifier,
    ObjectInfo,
    ObjectStore,
    OutgoingEmail,
    Table,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "MODES",
    "TARGETS",
    "Block",
    "FaultFile",
    "FaultSwitch",
    "Faults",
    "FaultyFinancialSource",
    "FaultyNotifier",
    "FaultyObjectStore",
    "FaultyTable",
    "read_faults",
    "write_faults",
]

TARGETS = ("objects", "tables", "api", "smtp")
"""The dependencies a block can cut (`all` on the command line means every one)."""
MODES = ("error", "timeout")

_ERRORS: dict[str, type[MrBatchError]] = {
    "objects": StorageError,
    "tables": TableError,
    "api": EnrichmentUnavailableError,
    "smtp": MailError,
}
_WHAT = {
    "objects": "object store",
    "tables": "state tables",
    "api": "enrichment API",
    "smtp": "mail server",
}


@dataclass(frozen=True)
class Block:
    """`region` cannot reach `target` until `until` (epoch seconds), failing per `mode`."""

    region: str
    target: str
    mode: str
    until: float
    experiment: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Faults:
    """Every fault injected into a stack: the blocks (expired ones included) and the extra
    delay of replication (`mrbatch chaos replication --delay`)."""

    blocks: tuple[Block, ...] = ()
    replication_delay_seconds: float = 0.0


def write_faults(path: Path, faults: Faults) -> None:
    """Replace the faults in force (atomically: a reader sees the old or the new ones)."""
    atomic_write_json(
        path,
        {
            "blocks": [b.as_dict() for b in faults.blocks],
            "replication_delay_seconds": faults.replication_delay_seconds,
        },
    )


def read_faults(path: Path) -> Faults:
    """The faults recorded in `path`; none when it is missing or unreadable (a torn file
    cannot happen: writes are atomic)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        blocks = tuple(Block(**entry) for entry in record.get("blocks", []))
        return Faults(blocks, float(record.get("replication_delay_seconds", 0.0)))
    except (OSError, ValueError, TypeError):
        return Faults()


class FaultFile:
    """`read_faults` of one file, re-read only when its mtime or size changed, so that a
    check costs one `stat` on the hot path of every port call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._faults = Faults()

    def read(self) -> Faults:
        try:
            stat = os.stat(self.path)
        except OSError:
            self._seen, self._faults = None, Faults()
            return self._faults
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._seen, self._faults = seen, read_faults(self.path)
        return self._faults


class FaultSwitch:
    """The blocks in force for one region, re-read only when their file changes.

    `hang` False makes `timeout` blocks fail at once: a caller that must never wait (the
    supervisor's health check) still sees the outage.
    """

    def __init__(
        self,
        path: Path,
        region: str,
        *,
        hang: bool = True,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.file = FaultFile(path)
        self.region = region
        self.hang = hang
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._sleep = sleep

    def active(self, target: str) -> Block | None:
        """The block of `target` in force now in this region, if any."""
        now = self._clock()
        return next(
            (
                b
                for b in self.file.read().blocks
                if b.region == self.region and b.target == target and now < b.until
            ),
            None,
        )

    def check(self, target: str) -> None:
        """Raise the outage error of `target` while it is blocked (after hanging for up to
        `timeout_seconds` in `timeout` mode); return at once otherwise."""
        block = self.active(target)
        if block is None:
            return
        error, what = _ERRORS[target], _WHAT[target]
        if block.mode == "timeout" and self.hang:
            self._sleep(max(0.0, min(self.timeout_seconds, block.until - self._clock())))
            raise error(f"{what} of {self.region} timed out (chaos experiment {block.experiment})")
        raise error(
            f"{what} of {self.region} unreachable: connection refused"
            f" (chaos experiment {block.experiment})"
        )


class FaultyObjectStore:
    """An `ObjectStore` that fails while its region's `objects` are blocked."""

    def __init__(self, inner: ObjectStore, switch: FaultSwitch) -> None:
        self.inner = inner
        self.bucket = inner.bucket
        self._switch = switch

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        replication_status: str | None = None,
        version_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        self._switch.check("objects")
        return self.inner.put(
            key,
            data,
            metadata=metadata,
            if_none_match=if_none_match,
            replication_status=replication_status,
            version_id=version_id,
            headers=headers,
            if_match=if_match,
        )

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        self._switch.check("objects")
        return self.inner.get(key)

    def get_bytes(self, key: str) -> bytes:
        self._switch.check("objects")
        return self.inner.get_bytes(key)

    def head(self, key: str) -> ObjectInfo:
        self._switch.check("objects")
        return self.inner.head(key)

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        self._switch.check("objects")
        return self.inner.list_page(prefix, token=token, max_keys=max_keys)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._switch.check("objects")
        return self.inner.list(prefix)

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        self._switch.check("objects")
        return self.inner.copy(source_key, dest_key, metadata=metadata)

    def delete(self, key: str) -> None:
        self._switch.check("objects")
        self.inner.delete(key)


class FaultyTable:
    """A `Table` that fails while its region's `tables` are blocked."""

    def __init__(self, inner: Table, switch: FaultSwitch) -> None:
        self.inner = inner
        self.name = inner.name
        self.key_names = inner.key_names
        self._switch = switch

    def get(self, key: Mapping[str, Any]) -> Item | None:
        self._switch.check("tables")
        return self.inner.get(key)

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self._switch.check("tables")
        self.inner.put(item, condition=condition)

    def get_many(self, keys: Sequence[Mapping[str, Any]]) -> list[Item]:
        self._switch.check("tables")
        return self.inner.get_many(keys)

    def put_many(self, items: Sequence[Item]) -> None:
        self._switch.check("tables")
        self.inner.put_many(items)

    def update(
        self,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        condition: Condition | None = None,
    ) -> Item:
        self._switch.check("tables")
        return self.inner.update(key, changes, condition=condition)

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        self._switch.check("tables")
        self.inner.delete(key, condition=condition)

    def query(self, index: str, value: Any) -> Iterator[Item]:
        self._switch.check("tables")
        return self.inner.query(index, value)

    def scan(self) -> Iterator[Item]:
        self._switch.check("tables")
        return self.inner.scan()


class ValuesSource(FinancialSource, Protocol):
    """A FinancialSource that also answers with values text (the region's sources do)."""

    def lookup_values(self, uuids: pl.Series) -> pl.Series: ...


class FaultyFinancialSource:
    """A `FinancialSource` that fails while its region's enrichment `api` is blocked."""

    def __init__(self, inner: ValuesSource, switch: FaultSwitch) -> None:
        self.inner = inner
        self._switch = switch

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        self._switch.check("api")
        return self.inner.lookup(uuids)

    def lookup_values(self, uuids: pl.Series) -> pl.Series:
        """The inner source's values (the batched chunk processor's path), failing alike."""
        self._switch.check("api")
        return self.inner.lookup_values(uuids)


class FaultyNotifier:
    """A `Notifier` that fails while its region's `smtp` is blocked (nothing is sent)."""

    def __init__(self, inner: Notifier, switch: FaultSwitch) -> None:
        self.inner = inner
        self._switch = switch

    def send(self, message: OutgoingEmail, *, idempotency_key: str) -> bool:
        self._switch.check("smtp")
        return self.inner.send(message, idempotency_key=idempotency_key)
