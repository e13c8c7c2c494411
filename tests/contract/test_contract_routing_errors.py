"""The RoutingControl's refusals say what was wrong, in both implementations.

An operator reads these messages at the moment a failover is refused; each names the
value that was refused and what was expected instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.ports import RoutingControl
from mrbatch.routing.local import SqliteRoutingControl

Factory = Callable[..., RoutingControl]


@pytest.mark.parametrize("regions", [(), ("us-east-1", "us-east-1"), ("us-east-1", "")])
def test_bad_region_names_are_refused_with_their_list(
    routing_factory: Factory, regions: tuple[str, ...]
) -> None:
    with pytest.raises(RoutingError) as refused:
        routing_factory(regions)
    assert str(refused.value) == (
        f"routing control needs distinct, non-empty region names: {regions}"
    )


def test_unknown_initial_region_is_refused_with_the_known_ones(routing_factory: Factory) -> None:
    with pytest.raises(RoutingError) as refused:
        routing_factory(initial_region="eu-west-1")
    assert str(refused.value) == (
        "initial region 'eu-west-1' is not one of ['us-east-1', 'us-west-2']"
    )


def test_unknown_region_cannot_become_active(routing_factory: Factory) -> None:
    control = routing_factory()
    with pytest.raises(RoutingError) as refused:
        control.set_active("eu-west-1", "typo")
    assert str(refused.value) == "unknown region 'eu-west-1'; known: ['us-east-1', 'us-west-2']"
    assert control.state().epoch == 1


def test_stale_expected_epoch_names_both_epochs(routing_factory: Factory) -> None:
    control = routing_factory()
    control.set_active("us-west-2", "failover", expected_epoch=1)
    with pytest.raises(ConditionFailedError) as refused:
        control.set_active("us-east-1", "stale operator", expected_epoch=1)
    assert str(refused.value).startswith("routing control is at epoch 2, not 1")


def test_sqlite_stale_expected_epoch_names_the_active_region(tmp_path: Path) -> None:
    control = SqliteRoutingControl(tmp_path / "routing.db", ["us-east-1", "us-west-2"])
    try:
        control.set_active("us-west-2", "failover", expected_epoch=1)
        with pytest.raises(ConditionFailedError) as refused:
            control.set_active("us-east-1", "stale operator", expected_epoch=1)
    finally:
        control.close()
    assert str(refused.value) == (
        "routing control is at epoch 2, not 1 (active: us-west-2); someone changed it meanwhile"
    )


def test_sqlite_store_that_cannot_be_opened_raises_routing_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RoutingError, match="cannot open database"):
        SqliteRoutingControl(tmp_path / "file" / "routing.db", ["us-east-1", "us-west-2"])


def test_sqlite_store_emptied_behind_its_back_says_so(tmp_path: Path) -> None:
    path = tmp_path / "routing.db"
    control = SqliteRoutingControl(path, ["us-east-1", "us-west-2"])
    try:
        with closing(sqlite3.connect(path)) as other, other:
            other.execute("DELETE FROM routing_history")
        with pytest.raises(RoutingError) as refused:
            control.state()
    finally:
        control.close()
    assert str(refused.value) == "the routing control store is empty"
