"""DynamoDBRoutingControl: "which region is active, at which epoch" as one DynamoDB item.

Route 53 ARC's routing controls are on/off switches: they have no epoch and no
compare-and-set, so two operators flipping at once cannot be told apart and a run cannot
be fenced by them. The source of truth is therefore one strongly consistent item (on AWS
a global table with multi-Region strong consistency, as AWS's newer multi-Region sample
does), changed only by a conditional update on its epoch: the update that moves the
region to epoch N+1 holds only while the item is still at epoch N, so of two racing
changes one wins and the other re-reads (or, with `expected_epoch`, fails). ARC's
controls and the Multi-Region Access Point's dials follow this item; they never lead.

The item also carries the history (every state, oldest first) in the same attribute
update, so the history can never disagree with the current state. A state is ~100 bytes:
DynamoDB's 400 KB item limit allows some 3,000 changes of the active region, far more
than a deployment's failovers (an operator can archive and reset it).

Multi-Region strong consistency does not offer transactions, which is why the history
lives in the item instead of in items of their own.

Example (needs a real or mocked DynamoDB):
    client = boto3.client("dynamodb")
    create_routing_table(client, "mrbatch-routing")
    control = DynamoDBRoutingControl(client, "mrbatch-routing", ("us-east-1", "us-west-2"))
    control.set_active("us-west-2", "failover", expected_epoch=control.state().epoch)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mrbatch.errors import ConditionFailedError, RoutingError, TableError
from mrbatch.ports import Condition, RoutingState
from mrbatch.routing.rules import INITIAL_REASON, check_known, check_regions, next_state
from mrbatch.state.dynamodb import DynamoDBTable, create_dynamodb_table
from mrbatch.state.schema import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ROUTING", "DynamoDBRoutingControl", "create_routing_table"]

ROUTING = TableSpec("routing", ("control",), ("S",))
"""The routing table: one item per routing control (mrbatch uses one, named "active")."""
_CONTROL = {"control": "active"}


def create_routing_table(client: DynamoDBClient, table_name: str) -> str:
    """Create the routing table (tests and bootstrap; the template creates the real one)."""
    return create_dynamodb_table(client, ROUTING, table_name=table_name)


class DynamoDBRoutingControl:
    """`RoutingControl` on the DynamoDB table `table_name` (see `create_routing_table`).

    The first control to find the item missing creates it with `initial_region` (default:
    the first of `regions`) at epoch 1, conditionally, so every later one keeps what is
    there. Every read is strongly consistent.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        regions: Sequence[str],
        *,
        initial_region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.regions, first = check_regions(regions, initial_region)
        self._clock = clock
        self._table = DynamoDBTable(client, ROUTING, table_name=table_name)
        initial = RoutingState(first, 1, clock(), INITIAL_REASON)
        try:
            with _routing_errors():
                self._table.put(
                    {**_CONTROL, **_fields(initial), "history": [_fields(initial)]},
                    condition=Condition(absent=("control",)),
                )
        except ConditionFailedError:
            pass  # already created: the stored state is the truth

    def state(self) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.state` (a strongly consistent read)."""
        return _state(self._read())

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        """See `mrbatch.ports.RoutingControl.set_active`: one UpdateItem conditioned on the
        epoch read just before; a lost race re-reads, unless `expected_epoch` pins it."""
        check_known(self.regions, region)
        while True:
            item = self._read()
            current = _state(item)
            new = next_state(
                current, region, reason, expected_epoch=expected_epoch, now=self._clock()
            )
            if new is current:
                return current  # no move, no new epoch: nothing in flight is fenced
            try:
                with _routing_errors():
                    self._table.update(
                        _CONTROL,
                        {**_fields(new), "history": [*item["history"], _fields(new)]},
                        condition=Condition(equals={"epoch": current.epoch}),
                    )
                return new
            except ConditionFailedError:
                if expected_epoch is not None:
                    raise
                # another change won between the read and the update: decide again

    def history(self) -> list[RoutingState]:
        """See `mrbatch.ports.RoutingControl.history`."""
        return [_state(entry) for entry in self._read()["history"]]

    def _read(self) -> dict[str, Any]:
        with _routing_errors():
            item = self._table.get(_CONTROL)
        if item is None:
            raise RoutingError(f"routing table {self._table.name} has no routing item")
        return item


def _fields(state: RoutingState) -> dict[str, Any]:
    return {
        "active_region": state.active_region,
        "epoch": state.epoch,
        "changed_at": state.changed_at,
        "reason": state.reason,
    }


def _state(item: dict[str, Any]) -> RoutingState:
    return RoutingState(
        str(item["active_region"]),
        int(item["epoch"]),
        float(item["changed_at"]),
        str(item["reason"]),
    )


class _routing_errors:
    """A table that cannot answer is a routing control that cannot answer: TableError
    becomes RoutingError; ConditionFailedError (a lost race) passes through."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if isinstance(exc, TableError) and not isinstance(exc, ConditionFailedError):
            raise RoutingError(f"the routing control store cannot answer: {exc}") from exc
