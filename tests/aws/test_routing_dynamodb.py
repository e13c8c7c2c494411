"""DynamoDBRoutingControl beyond the port's contract: one item shared by every control."""

from __future__ import annotations

import boto3
import pytest
from mypy_boto3_dynamodb import DynamoDBClient

from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.routing.dynamodb import DynamoDBRoutingControl, create_routing_table

REGIONS = ("us-east-1", "us-west-2")


@pytest.fixture
def client(aws: None) -> DynamoDBClient:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_routing_table(dynamodb, "routing")
    return dynamodb


def test_second_control_keeps_the_stored_state_when_the_item_exists(client: DynamoDBClient) -> None:
    first = DynamoDBRoutingControl(client, "routing", REGIONS)
    first.set_active("us-west-2", "failover")
    second = DynamoDBRoutingControl(client, "routing", REGIONS, initial_region="us-east-1")
    assert (second.state().active_region, second.state().epoch) == ("us-west-2", 2)
    assert [s.epoch for s in second.history()] == [1, 2]


def test_stale_control_is_refused_when_another_moved_the_epoch(client: DynamoDBClient) -> None:
    operator_a = DynamoDBRoutingControl(client, "routing", REGIONS)
    operator_b = DynamoDBRoutingControl(client, "routing", REGIONS)
    operator_a.set_active("us-west-2", "failover", expected_epoch=1)
    with pytest.raises(ConditionFailedError):
        operator_b.set_active("us-east-1", "failback", expected_epoch=1)
    assert operator_b.state().epoch == 2


def test_missing_table_is_a_routing_error_when_created(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    with pytest.raises(RoutingError, match="routing control store cannot answer"):
        DynamoDBRoutingControl(dynamodb, "nowhere", REGIONS)


def test_change_racing_between_read_and_update_is_refused_when_the_epoch_moved(
    client: DynamoDBClient,
) -> None:
    """Operator A reads epoch 1; before its update lands, B moves the epoch to 2. A's
    update is conditioned on epoch 1: it must fail, not write a second epoch 2."""
    operator_b = DynamoDBRoutingControl(client, "routing", REGIONS)
    interleaved: list[bool] = []

    def clock_that_lets_b_in() -> float:
        if not interleaved:  # A's first call: between its read and its update
            interleaved.append(True)
            operator_b.set_active("us-west-2", "operator b")
        return 1000.0

    operator_a = DynamoDBRoutingControl(client, "routing", REGIONS)
    operator_a._clock = clock_that_lets_b_in
    with pytest.raises(ConditionFailedError):
        operator_a.set_active("us-west-2", "operator a", expected_epoch=1)
    assert [(s.active_region, s.epoch, s.reason) for s in operator_a.history()] == [
        ("us-east-1", 1, "initial"),
        ("us-west-2", 2, "operator b"),
    ]
