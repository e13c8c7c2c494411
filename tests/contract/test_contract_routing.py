"""The RoutingControl contract: memory, SQLite and DynamoDB (moto) must pass every test."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.ports import RoutingControl

Factory = Callable[..., RoutingControl]


def summary(control: RoutingControl) -> list[tuple[str, int, str]]:
    return [(s.active_region, s.epoch, s.reason) for s in control.history()]


def test_starts_with_first_region_at_epoch_one(routing_factory: Factory) -> None:
    state = routing_factory().state()
    assert (state.active_region, state.epoch, state.reason) == ("us-east-1", 1, "initial")


def test_initial_region_can_be_chosen(routing_factory: Factory) -> None:
    assert routing_factory(initial_region="us-west-2").state().active_region == "us-west-2"


def test_set_active_bumps_epoch_on_a_move(routing_factory: Factory) -> None:
    control = routing_factory()
    flipped = control.set_active("us-west-2", "failover drill")
    assert (flipped.active_region, flipped.epoch, flipped.reason) == (
        "us-west-2",
        2,
        "failover drill",
    )
    assert control.state() == flipped


def test_set_active_for_the_active_region_changes_nothing(routing_factory: Factory) -> None:
    control = routing_factory()
    flipped = control.set_active("us-west-2", "failover drill")
    again = control.set_active("us-west-2", "re-assert", expected_epoch=2)
    assert again == flipped  # same epoch, same reason: nothing in flight gets fenced
    assert summary(control) == [("us-east-1", 1, "initial"), ("us-west-2", 2, "failover drill")]
    with pytest.raises(ConditionFailedError):
        control.set_active("us-west-2", "stale operator", expected_epoch=1)


def test_history_is_every_state_oldest_first(routing_factory: Factory) -> None:
    control = routing_factory()
    control.set_active("us-west-2", "failover")
    control.set_active("us-east-1", "failback")
    assert summary(control) == [
        ("us-east-1", 1, "initial"),
        ("us-west-2", 2, "failover"),
        ("us-east-1", 3, "failback"),
    ]
    history = control.history()
    assert history[0].changed_at <= history[1].changed_at <= history[2].changed_at


def test_expected_epoch_is_compare_and_set(routing_factory: Factory) -> None:
    control = routing_factory()
    control.set_active("us-west-2", "first", expected_epoch=1)
    with pytest.raises(ConditionFailedError):
        control.set_active("us-east-1", "stale operator", expected_epoch=1)
    state = control.state()
    assert (state.active_region, state.epoch) == ("us-west-2", 2)


def test_unknown_region_is_refused(routing_factory: Factory) -> None:
    control = routing_factory()
    with pytest.raises(RoutingError):
        control.set_active("eu-west-1", "typo")
    assert control.state().epoch == 1


@pytest.mark.parametrize("regions", [(), ("a", "a"), ("",)], ids=repr)
def test_bad_region_lists_are_refused(routing_factory: Factory, regions: tuple[str, ...]) -> None:
    with pytest.raises(RoutingError):
        routing_factory(regions)


def test_bad_initial_region_is_refused(routing_factory: Factory) -> None:
    with pytest.raises(RoutingError):
        routing_factory(initial_region="eu-west-1")


def test_racing_operators_with_same_expected_epoch_one_wins(
    atomic_routing_factory: Factory,
) -> None:
    control = atomic_routing_factory()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def flip(n: int) -> None:
        barrier.wait()
        try:
            control.set_active("us-west-2", f"operator {n}", expected_epoch=1)
            outcomes.append("won")
        except ConditionFailedError:
            outcomes.append("lost")

    threads = [threading.Thread(target=flip, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert control.state().epoch == 2


def test_concurrent_changes_get_consecutive_epochs(atomic_routing_factory: Factory) -> None:
    control = atomic_routing_factory()
    other = {"us-east-1": "us-west-2", "us-west-2": "us-east-1"}

    def flip_many(region: str) -> None:
        for _ in range(5):
            control.set_active(region, "flap")
            control.set_active(other[region], "flap back")

    threads = [
        threading.Thread(target=flip_many, args=(r,)) for r in ["us-east-1", "us-west-2"] * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = control.history()
    assert [s.epoch for s in history] == list(range(1, len(history) + 1))
    # every new epoch is a move: no two consecutive states name the same region
    assert all(a.active_region != b.active_region for a, b in itertools.pairwise(history))
