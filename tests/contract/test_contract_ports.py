"""Every implementation really is an instance of its port (runtime-checkable Protocols)."""

from __future__ import annotations

from collections.abc import Callable

from mrbatch.ports import Metrics, ObjectStore, RoutingControl, Table
from mrbatch.state import BATCH_STATE, TableSpec


def test_object_stores_implement_the_port(object_store: ObjectStore) -> None:
    assert isinstance(object_store, ObjectStore)


def test_tables_implement_the_port(table_factory: Callable[[TableSpec], Table]) -> None:
    assert isinstance(table_factory(BATCH_STATE), Table)


def test_routing_controls_implement_the_port(
    routing_factory: Callable[..., RoutingControl],
) -> None:
    assert isinstance(routing_factory(), RoutingControl)


def test_metrics_implement_the_port(metrics_factory: Callable[..., Metrics]) -> None:
    assert isinstance(metrics_factory(lambda: 0.0), Metrics)
