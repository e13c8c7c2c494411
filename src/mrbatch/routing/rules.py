"""The routing control's rules, once for every backend (SQLite, memory, DynamoDB).

A backend only stores states; what a change may do is decided here: which region names
are acceptable, and the state `set_active` leads to from the current one — the same state
when the region is already active (no new epoch, so nothing in flight is fenced), the next
epoch otherwise, and a refusal when the caller's `expected_epoch` is stale.
"""

from __future__ import annotations

from collections.abc import Sequence

from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.ports import RoutingState

__all__ = ["INITIAL_REASON", "check_known", "check_regions", "next_state"]

INITIAL_REASON = "initial"


def check_regions(regions: Sequence[str], initial: str | None) -> tuple[tuple[str, ...], str]:
    """The region names and the first active one; RoutingError for a bad list."""
    names = tuple(regions)
    if not names or len(set(names)) != len(names) or not all(names):
        raise RoutingError(f"routing control needs distinct, non-empty region names: {names}")
    first = initial or names[0]
    if first not in names:
        raise RoutingError(f"initial region {first!r} is not one of {list(names)}")
    return names, first


def check_known(regions: Sequence[str], region: str) -> None:
    """RoutingError unless `region` is one of `regions`."""
    if region not in regions:
        raise RoutingError(f"unknown region {region!r}; known: {list(regions)}")


def next_state(
    current: RoutingState,
    region: str,
    reason: str,
    *,
    expected_epoch: int | None,
    now: float,
) -> RoutingState:
    """What `set_active(region, reason, expected_epoch=...)` leads to from `current`:
    `current` itself when `region` is already active (the caller stores nothing)."""
    if expected_epoch is not None and current.epoch != expected_epoch:
        raise ConditionFailedError(
            f"routing control is at epoch {current.epoch}, not {expected_epoch}"
            f" (active: {current.active_region}); someone changed it meanwhile"
        )
    if current.active_region == region:
        return current
    return RoutingState(region, current.epoch + 1, now, reason)
