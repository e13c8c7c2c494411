"""The ports: the small typed interfaces every region is built from.

Each port has a local implementation (the default, one machine) and one contract test
suite in `tests/contract/` that every implementation passes; ObjectStore, Table,
RoutingControl, Notifier and Metrics also have AWS implementations (S3, DynamoDB, SES,
CloudWatch EMF lines), which pass the same suites (under moto for the AWS services).
Handlers and the workflow engine only ever see these interfaces, never boto3 or sqlite3.

Contracts are written on each method: what it returns, what it raises, whether it is
idempotent. Errors come from `mrbatch.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, runtime_checkable

from mrbatch.model import FinancialRecord

__all__ = [
    "CHECKSUM_HEADER_PREFIX",
    "MULTIPART_HEADER",
    "REPLICA",
    "STORED_HEADERS",
    "Condition",
    "FinancialSource",
    "Item",
    "ListPage",
    "MetricPoint",
    "Metrics",
    "Notifier",
    "ObjectInfo",
    "ObjectStore",
    "OutgoingEmail",
    "RoutingControl",
    "RoutingState",
    "Table",
]

# The standard headers an object keeps (S3's system metadata a client may set), besides
# `x-amz-checksum-<algorithm>`; every store returns them exactly as they were put.
STORED_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "expires",
)
CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
# The layout of an object completed from a multipart upload (its multipart ETag, part sizes,
# part checksums), kept as one stored header so that it replicates with the object; the
# gateway answers GetObjectAttributes and GET ?partNumber from it, never returns it as is.
MULTIPART_HEADER = "x-mrbatch-multipart"

# Value of `ObjectInfo.replication_status` for an object written by replication; such an
# object is never replicated back (as S3's x-amz-replication-status: REPLICA).
REPLICA = "REPLICA"


# --- ObjectStore -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """What `head` tells about an object; `etag` is the MD5 hex digest (no quotes).

    `headers` are the standard headers stored with the object, by lower-case name (see
    `STORED_HEADERS`: content-type, cache-control, ..., and `x-amz-checksum-<algorithm>`);
    S3 calls them system metadata. They are kept apart from the user's `metadata` so that
    neither can shadow the other.
    """

    key: str
    size: int
    etag: str
    version_id: str
    last_modified: float
    metadata: Mapping[str, str] = field(default_factory=dict)
    replication_status: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListPage:
    """One page of a listing; `next_token` is None on the last page."""

    objects: list[ObjectInfo]
    next_token: str | None


@runtime_checkable
class ObjectStore(Protocol):
    """One region's bucket, with S3's semantics for single-part objects.

    Keys are UTF-8 strings of at most 1024 bytes; an invalid key raises InvalidKeyError.
    """

    bucket: str

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
        """Store `data` under `key` atomically (readers see the old or the new object, never
        a mix) and return its info. With `if_none_match`, raise ObjectExistsError when the key
        exists (create-only). With `if_match` (an ETag, no quotes), replace only the object
        whose ETag that is: raise ObjectNotFoundError when the key is missing and
        PreconditionFailedError when its ETag differs (checked atomically with the write).
        `headers` are stored and returned as `ObjectInfo.headers` (names lower-case, from
        `STORED_HEADERS`, `x-amz-checksum-*` or `MULTIPART_HEADER`; InvalidMetadataError
        otherwise).
        `replication_status` and `version_id` are set by replication only, to mark replicas
        and keep the source's version id."""
        ...

    def get(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Open the object for streaming. The caller closes the stream.
        Raises ObjectNotFoundError."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory; for small objects. Raises ObjectNotFoundError."""
        ...

    def head(self, key: str) -> ObjectInfo:
        """Info without the body. Raises ObjectNotFoundError."""
        ...

    def list_page(
        self, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One page of keys under `prefix`, in UTF-8 byte order of the keys, at most
        `max_keys` (1..1000) of them; pass `next_token` back to get the next page. Listed
        objects always carry key, size, etag and last_modified; like S3's ListObjectsV2, a
        backend may leave `version_id` empty and `metadata` out (use `head` for those).
        Raises StorageError for a token this store did not issue."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, paginating underneath."""
        ...

    def copy(
        self, source_key: str, dest_key: str, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """Server-side copy; metadata is copied unless given, headers always are.
        Raises ObjectNotFoundError."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object. Idempotent: deleting a missing key is not an error."""
        ...


# --- Table -------------------------------------------------------------------------------

Item = dict[str, Any]
"""A table item: a plain dict of str, int, float, bool, None, list and dict values."""


@dataclass(frozen=True)
class Condition:
    """A condition on the stored item that a write requires; every clause must hold.

    - `absent`: attributes that must not exist (`("file_id",)` means "create only").
    - `equals`: attributes that must exist with exactly these values.
    - `at_most`: numeric attributes that must be absent or <= the value (epoch fencing:
      a writer with epoch 5 may overwrite what epochs <= 5 wrote, never what epoch 6 wrote).
    """

    absent: tuple[str, ...] = ()
    equals: Mapping[str, Any] = field(default_factory=dict)
    at_most: Mapping[str, int | float] = field(default_factory=dict)


@runtime_checkable
class Table(Protocol):
    """A key-value table with conditional writes and secondary indexes (as DynamoDB).

    `key_names` is the partition key, optionally followed by a sort key.
    """

    name: str
    key_names: tuple[str, ...]

    def get(self, key: Mapping[str, Any]) -> Item | None:
        """The item with this key, or None. Strongly consistent within the region."""
        ...

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        """Create or replace the whole item. Raises ConditionFailedError when `condition`
        does not hold (for a missing item only `absent` and `at_most` clauses can hold)."""
        ...

    def get_many(self, keys: Sequence[Mapping[str, Any]]) -> list[Item]:
        """The items that exist among `keys`, in the order of `keys`; missing ones are
        skipped, and a key given twice yields its item twice. Strongly consistent within
        the region, as `get`. Pages underneath (DynamoDB's BatchGetItem takes 100 keys,
        and may leave some unprocessed: they are retried), so any number of keys works.
        Raises TableError for a bad key before reading anything. Reads only: idempotent."""
        ...

    def put_many(self, items: Sequence[Item]) -> None:
        """Create or replace every item, unconditionally (as `put` without a condition);
        when two items share a key, the later one wins. Every item is checked first: a bad
        one raises TableError and nothing is written. All or nothing where the backend can
        (SQLite: one transaction); DynamoDB's BatchWriteItem (25 items a request, unprocessed
        ones retried) is not atomic: on an error, some items may be written and others not,
        and calling again with the same items completes it. Idempotent."""
        ...

    def update(
        self,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        condition: Condition | None = None,
    ) -> Item:
        """Set the given attributes (creating the item if missing) and return the new item.
        Raises ConditionFailedError; TableError when `changes` is empty or names a key
        attribute (keys cannot change)."""
        ...

    def delete(self, key: Mapping[str, Any], *, condition: Condition | None = None) -> None:
        """Remove the item; idempotent. Raises ConditionFailedError."""
        ...

    def query(self, index: str, value: Any) -> Iterator[Item]:
        """Every item whose index attribute (the index is named after it, e.g. "status")
        equals `value`, paginating underneath; `index` may also be the partition key."""
        ...

    def scan(self) -> Iterator[Item]:
        """Every item, paginating underneath."""
        ...


# --- RoutingControl ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingState:
    """Which region is active; `epoch` grows by one on every change (used for fencing)."""

    active_region: str
    epoch: int
    changed_at: float
    reason: str


@runtime_checkable
class RoutingControl(Protocol):
    """The one strongly consistent answer to "which region may work now" (as Route 53 ARC)."""

    def state(self) -> RoutingState:
        """The current state. Raises RoutingError when the control store cannot answer."""
        ...

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        """Make `region` active under the next epoch and return the new state. When `region`
        is already active, change nothing and return the current state: a new epoch fences
        every run in flight, and only a real move is followed by the new region's
        reconciliation, so a no-op request must not strand work. With `expected_epoch`,
        raise ConditionFailedError unless the epoch is still that (so two operators cannot
        flip it at once). Raises RoutingError for an unknown region. Idempotent."""
        ...

    def history(self) -> list[RoutingState]:
        """Every state so far, oldest first."""
        ...


# --- Notifier ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingEmail:
    """A plain-text email."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str


@runtime_checkable
class Notifier(Protocol):
    """Sends email at most once per idempotency key."""

    def send(self, message: OutgoingEmail, *, idempotency_key: str) -> bool:
        """Send `message` unless a message with this key was already sent; return True when
        this call sent it. Raises MrBatchError when the mail server refuses it."""
        ...


# --- FinancialSource ---------------------------------------------------------------------


class FinancialSource(Protocol):
    """Where the financial data of an order comes from (a CSV file, the region's financial
    table, or its enrichment API: `mrbatch.enrichment`)."""

    def lookup(self, uuids: Sequence[str]) -> Mapping[str, FinancialRecord]:
        """Return the records of those of `uuids` that the source knows.

        A uuid without data is simply absent from the result (the caller records it as a
        row error). Idempotent and read-only. Raises a MrBatchError subclass when the source
        itself fails (unreachable, unreadable), never for an unknown uuid.
        """
        ...


# --- Metrics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    """One recorded count."""

    name: str
    value: float
    region: str
    timestamp: float
    dimensions: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Metrics(Protocol):
    """Counters per region (CloudWatch-style), read back by the dashboard."""

    def count(
        self,
        name: str,
        value: float = 1.0,
        *,
        region: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """Record `value` for `name` now."""
        ...

    def points(self, name: str | None = None, *, region: str | None = None) -> list[MetricPoint]:
        """Recorded points, oldest first, optionally only one name and/or region."""
        ...

    def total(self, name: str, *, region: str | None = None) -> float:
        """Sum of the values recorded for `name` (0 when none)."""
        ...
