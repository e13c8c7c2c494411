"""The access point's routing, apart from the wire format: which region's bucket serves each
operation, as an S3 Multi-Region Access Point with failover routing does.

- PUT goes to the active region (per the routing control); when that region is unavailable
  or its store fails, to the next available one (MRAP's failover).
- GET/HEAD look in every available region, active first, and serve the first that has
  the object: a file uploaded just before a failover is found before it replicates.
- LIST merges the available regions' listings (one entry per key, the active region's
  version winning), so that LIST agrees with GET.
- DELETE removes the key from every available region, active first. GET and LIST read
  every available region, so deleting only the active copy would let the replica answer
  the next GET: S3 is read-after-delete consistent, and a delete through the access point
  is the user's intent for the key. Replication itself is untouched (it still does not
  replicate deletes, as S3 CRR without delete-marker replication), so reconciliation sees
  what it always saw: an input deleted through the access point is missing in both
  regions and reported missing, never re-driven. Two limits, said plainly: a region that
  is unavailable during the DELETE keeps its copy, which GET serves again once that region
  is back; and a replication copy already reading the source when the DELETE lands can
  write its replica just after it (the replicator re-checks the source only before it
  starts). A DELETE repeated later removes either.

When the routing control cannot answer, the regions are tried in their configured order:
the data plane stays up, and only the trigger (which asks the control itself) decides who
works.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from typing import BinaryIO, TypeVar

from mrbatch.errors import (
    InvalidKeyError,
    InvalidMetadataError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    RoutingError,
    StorageError,
)
from mrbatch.ports import ObjectInfo, ObjectStore, RoutingControl

__all__ = ["AccessPoint", "NoRegionAvailableError"]

T = TypeVar("T")

# Errors that describe the request, not the region: trying another region cannot help.
_CLIENT_ERRORS = (
    InvalidKeyError,
    InvalidMetadataError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
)


class NoRegionAvailableError(StorageError):
    """No region can serve the operation now (all unavailable or failing)."""


def _always_available(region: str) -> bool:
    return True


class AccessPoint:
    """One entry point over the regions' object stores.

    `stores` maps region name to its store (the order is the fallback order when the
    routing control cannot answer); `is_available(region)` says whether a region may be
    used now (chaos drills and health checks plug in here).

    Example (with the stores and routing control of a running stack):

        access_point = AccessPoint({"us-east-1": east, "us-west-2": west}, routing)
        region, info = access_point.put("input/a.csv", io.BytesIO(b"..."))
    """

    def __init__(
        self,
        stores: Mapping[str, ObjectStore],
        routing: RoutingControl,
        *,
        is_available: Callable[[str], bool] = _always_available,
    ) -> None:
        if not stores:
            raise ValueError("an access point needs at least one region")
        self.stores = dict(stores)
        self.routing = routing
        self.is_available = is_available

    def regions_in_order(self) -> list[str]:
        """The available regions, the active one first."""
        regions = list(self.stores)
        try:
            active = self.routing.state().active_region
        except RoutingError:
            active = regions[0]
        if active in regions:
            regions.remove(active)
            regions.insert(0, active)
        return [region for region in regions if self.is_available(region)]

    def put(
        self,
        key: str,
        data: BinaryIO,
        *,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> tuple[str, ObjectInfo]:
        """Store the object in the active (else next available) region; return the region
        and the object's info. `data` must be seekable (it is rewound for a retry).

        `if_none_match` (create only) holds only if no available region has the key, since
        GET would find it in any of them; the other regions are looked at first, then the
        writing region checks atomically. `if_match` is checked atomically by the writing
        region. Both raise as `ObjectStore.put` does."""
        start = data.tell()
        if if_none_match:
            self._refuse_if_held_elsewhere(key)

        def attempt(store: ObjectStore) -> ObjectInfo:
            data.seek(start)
            return store.put(
                key,
                data,
                metadata=metadata,
                headers=headers,
                if_none_match=if_none_match,
                if_match=if_match,
            )

        return self._first_success(attempt, "store the object")

    def _refuse_if_held_elsewhere(self, key: str) -> None:
        for region in self.regions_in_order()[1:]:
            try:
                self.stores[region].head(key)
            except ObjectNotFoundError:
                continue
            except _CLIENT_ERRORS:
                raise
            except StorageError:
                continue  # a failing region is not read by GET either
            raise ObjectExistsError(key)

    def get(self, key: str) -> tuple[str, ObjectInfo, BinaryIO]:
        """Open the object from the first region that has it. Raises ObjectNotFoundError."""
        region, (info, stream) = self._first_holder(lambda store: store.get(key), key)
        return region, info, stream

    def head(self, key: str) -> tuple[str, ObjectInfo]:
        """Info from the first region that has the object. Raises ObjectNotFoundError."""
        return self._first_holder(lambda store: store.head(key), key)

    def delete(self, key: str) -> list[str]:
        """Delete from every available region; return them, active first. Raises
        NoRegionAvailableError when some region's store failed (the delete is idempotent:
        the client retries) or none is available."""
        regions = self.regions_in_order()
        failures = []
        for region in regions:
            try:
                self.stores[region].delete(key)
            except _CLIENT_ERRORS:
                raise
            except StorageError as exc:
                failures.append(f"{region}: {exc}")
        if failures or not regions:
            raise NoRegionAvailableError(
                f"could not delete {key!r} everywhere: {'; '.join(failures) or 'no region'}"
            )
        return regions

    def list(self, prefix: str = "", *, start_after: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix` whose key sorts after `start_after`, merged across the
        available regions in UTF-8 byte order, one entry per key (active region first)."""
        regions = self.regions_in_order()
        if not regions:
            raise NoRegionAvailableError("no region is available to list objects")
        marker = start_after.encode("utf-8")
        sources = [
            (info for info in self.stores[region].list(prefix) if info.key.encode() > marker)
            for region in regions
        ]
        previous: str | None = None
        for info in heapq.merge(*sources, key=lambda item: item.key.encode("utf-8")):
            if info.key != previous:
                previous = info.key
                yield info

    def _first_success(self, operation: Callable[[ObjectStore], T], what: str) -> tuple[str, T]:
        failures: list[str] = []
        for region in self.regions_in_order():
            try:
                return region, operation(self.stores[region])
            except _CLIENT_ERRORS:
                raise
            except StorageError as exc:
                failures.append(f"{region}: {exc}")
        raise NoRegionAvailableError(
            f"no region could {what}: {'; '.join(failures) or 'none available'}"
        )

    def _first_holder(self, operation: Callable[[ObjectStore], T], key: str) -> tuple[str, T]:
        failures: list[str] = []
        for region in self.regions_in_order():
            try:
                return region, operation(self.stores[region])
            except ObjectNotFoundError:
                continue
            except _CLIENT_ERRORS:
                raise
            except StorageError as exc:
                failures.append(f"{region}: {exc}")
        if failures:
            raise NoRegionAvailableError(f"cannot read {key!r}: {'; '.join(failures)}")
        raise ObjectNotFoundError(key)
